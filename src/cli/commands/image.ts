/**
 * `ward image copy SRC DST`: copy container images between OCI layouts, docker-archive files and
 * registries, encrypting or decrypting layers in the ocicrypt format (as `skopeo copy` does, with
 * the same flag names).
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { usageError } from '../args.ts';
import { addContextOptions } from '../context.ts';
import { info, warn } from '../ui.ts';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const collectInt = (v: string, prev: number[] | undefined) => {
  if (!/^-?\d+$/.test(v)) throw usageError(`--encrypt-layer takes an integer, got ${JSON.stringify(v)}`);
  return [...(prev ?? []), Number(v)];
};

function parseBool(v: string | boolean | undefined, flag: string): boolean | undefined {
  if (v === undefined || v === true) return v === undefined ? undefined : true;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw usageError(`${flag} takes true or false, got ${JSON.stringify(v)}`);
}

/** Reads a secret from the terminal without echo (or one line of piped stdin). */
async function readSecret(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  if (!process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    throw usageError('no passphrase on standard input');
  }
  process.stderr.write(prompt);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  const answer = await new Promise<string>((ok) => rl.question('', ok));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

async function parseCreds(v: string | undefined, flag: string): Promise<{ username: string; password: string } | undefined> {
  if (v === undefined) return undefined;
  const i = v.indexOf(':');
  if (i === 0 || !v) throw usageError(`${flag} takes USER[:PASS]`);
  if (i > 0) return { username: v.slice(0, i), password: v.slice(i + 1) };
  return { username: v, password: await readSecret(`password for ${v}: `) };
}

interface Flags {
  encryptionKey?: string[];
  encryptLayer?: number[];
  encryptLabelled?: boolean;
  decryptionKey?: string[];
  passphrase?: boolean;
  passphraseFile?: string;
  srcTlsVerify?: string | boolean;
  destTlsVerify?: string | boolean;
  srcCreds?: string;
  destCreds?: string;
  authfile?: string;
  platform?: string;
  quiet?: boolean;
  server?: string[];
  identity?: string;
  config?: string;
}

function progressRenderer(): (e: { name: string; done: number; total: number; state: string }) => void {
  let last = 0;
  const mib = (n: number) => (n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
  return (e) => {
    const now = Date.now();
    if (e.state === 'running' && now - last < 100) return;
    last = now;
    const frac = e.total ? Math.min(1, e.done / e.total) : 1;
    const bar = '#'.repeat(Math.round(frac * 30)).padEnd(30, ' ');
    const tail = e.state === 'skipped' ? 'already there' : `${mib(e.done)} / ${mib(e.total)}`;
    process.stderr.write(`\r\x1b[2Kward: ${e.name} [${bar}] ${tail}${e.state === 'running' ? '' : '\n'}`);
  };
}

async function run(src: string, dst: string, flags: Flags): Promise<void> {
  const image = await import('../../image/index.ts');
  const f = { ...flags, encryptionKey: flags.encryptionKey ?? [], encryptLayer: flags.encryptLayer ?? [], decryptionKey: flags.decryptionKey ?? [] };
  if (f.encryptLabelled && f.encryptLayer.length) throw usageError('--encrypt-layer and --encrypt-labelled exclude each other');
  if ((f.encryptLayer.length || f.encryptLabelled) && !f.encryptionKey.length && !f.passphrase && !f.passphraseFile) {
    throw usageError('--encrypt-layer/--encrypt-labelled need --encryption-key or a passphrase');
  }
  let passphrase: Buffer | undefined;
  if (f.passphraseFile) passphrase = Buffer.from(readFileSync(f.passphraseFile, 'utf8').replace(/\r?\n$/, ''));
  else if (f.passphrase) passphrase = Buffer.from(await readSecret('passphrase: '));
  if (passphrase && passphrase.length === 0) throw usageError('empty passphrase');
  const srcRef = image.parseImageReference(src);
  const dstRef = image.parseImageReference(dst);
  const sourceOpts = { tlsVerify: parseBool(f.srcTlsVerify, '--src-tls-verify'), creds: await parseCreds(f.srcCreds, '--src-creds'), authfile: f.authfile };
  const destOpts = { tlsVerify: parseBool(f.destTlsVerify, '--dest-tls-verify'), creds: await parseCreds(f.destCreds, '--dest-creds'), authfile: f.authfile };
  const showProgress = process.stderr.isTTY && !f.quiet;
  // ward:APP/ENV/NAME keys are held by the Ward server (src/image/ward-keys.ts)
  const isWard = (k: string) => k.startsWith('ward:');
  const wardEnc = f.encryptionKey.filter(isWard);
  const wardDec = f.decryptionKey.filter(isWard);
  const wardKeys = wardEnc.length || wardDec.length ? await wardWrapper(wardEnc, wardDec, f) : undefined;
  const ward = wardKeys?.wrapper;
  try {
    const result = await image.copyImage(image.openSource(srcRef, sourceOpts), image.openDestination(dstRef, destOpts), {
      encryptTo: [...image.encryptionWrappers(f.encryptionKey.filter((k) => !isWard(k))), ...(ward?.canWrap ? [ward] : [])],
      decryptWith: [...image.decryptionWrappers(f.decryptionKey.filter((k) => !isWard(k))), ...(ward?.canUnwrap ? [ward] : [])],
      ...(passphrase ? { passphrase: image.passphraseWrapper(passphrase) } : {}),
      ...(f.encryptLayer.length ? { encryptLayers: f.encryptLayer } : {}),
      ...(f.encryptLabelled ? { encryptLabelled: true } : {}),
      ...(f.platform ? { platform: image.parsePlatform(f.platform) } : {}),
      ...(showProgress ? { onProgress: progressRenderer() } : {}),
      onWarning: warn,
    });
    if (!f.quiet) {
      const counts = new Map<string, number>();
      for (const l of result.layers) counts.set(l.action, (counts.get(l.action) ?? 0) + 1);
      info(`copied ${image.formatImageReference(srcRef)} to ${image.formatImageReference(dstRef)}: ${[...counts].map(([a, n]) => `${n} ${a}`).join(', ')}`);
    }
  } finally {
    wardKeys?.close();
  }
}

async function wardWrapper(enc: string[], dec: string[], flags: Flags) {
  const [{ WardKeyWrapper, parseSecretRef }, { lazyFetcher }] = await Promise.all([import('../../image/ward-keys.ts'), import('../keyprovider.ts')]);
  const { fetch, close } = lazyFetcher(flags);
  return { wrapper: new WardKeyWrapper({ encryptTo: enc.map(parseSecretRef), decryptWith: dec.map(parseSecretRef), fetch }), close };
}

export function register(program: Command): void {
  const image = program.command('image').description('copy container images, encrypting or decrypting layers (ocicrypt, as skopeo)');
  addContextOptions(image
    .command('copy'))
    .description('copy an image from SRC to DST (oci:PATH[:TAG], docker-archive:PATH[:REF], docker://HOST[:PORT]/REPO[:TAG|@DIGEST])')
    .argument('<SRC>', 'source image reference')
    .argument('<DST>', 'destination image reference')
    .option('--encryption-key <PROTO:KEY>', 'encrypt to this key (repeatable): jwe:FILE, an RSA or EC public key in PEM or JWK; ward:APP/ENV/NAME, the private key held in that Ward secret', collect)
    .option('--encrypt-layer <N>', 'encrypt only layer N (repeatable; 0-based, negative counts from the top; default all)', collectInt)
    .option('--encrypt-labelled', 'encrypt the layers built between LABEL ward.encrypt=true and ward.encrypt=false (or com.senetas.crypto.enabled)')
    .option('--decryption-key <FILE[:PASS]>', 'decrypt with this private key (repeatable; PKCS#8, SEC1, PKCS#1 or JWK); PASS is file=F or fd=N; ward:APP/ENV/NAME fetches it from the Ward server', collect)
    .option('--passphrase', 'Ward-only: also encrypt to / decrypt with a passphrase read from the terminal (JWE PBES2-HS512+A256KW)')
    .option('--passphrase-file <FILE>', 'Ward-only: like --passphrase, reading the passphrase from FILE')
    .option('--src-tls-verify [BOOL]', 'verify the source registry\'s TLS certificate (default true; false also allows plain HTTP)')
    .option('--dest-tls-verify [BOOL]', 'verify the destination registry\'s TLS certificate (default true; false also allows plain HTTP)')
    .option('--src-creds <USER[:PASS]>', 'source registry credentials; without :PASS the password is prompted for')
    .option('--dest-creds <USER[:PASS]>', 'destination registry credentials; without :PASS the password is prompted for')
    .option('--authfile <FILE>', 'Docker config.json with registry credentials (default $REGISTRY_AUTH_FILE, else ~/.docker/config.json)')
    .option('--platform <OS/ARCH[/VARIANT]>', 'which image to take from a multi-platform index (default this machine\'s)')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText('after', '\nA passphrase layer decrypts with Ward only: ocicrypt has no passphrase recipient. ward: keys use the\nserver and identity of operator commands (--server, --identity, WARD_SERVER, WARD_IDENTITY, ward.toml)\nand the annotation of `ward keyprovider`. See docs/images.md.')
    .action(async (src: string, dst: string, flags: Flags) => run(src, dst, flags));
}
