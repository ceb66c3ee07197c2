/** `ward init` (src/cli/commands/init.ts): flags to a deployment, then what to do next. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { initDeployment, type InitKeys } from '../../deployment.ts';
import { WardError } from '../../errors.ts';
import { usageError } from '../args.ts';
import type { InitFlags } from '../commands/init.ts';
import { readNewPassphrase } from '../passphrase.ts';
import { hint, info, out } from '../ui.ts';

function count(text: string | undefined, flag: string): number {
  if (text === undefined || !/^[1-9][0-9]{0,2}$/.test(text)) throw usageError(`${flag} must be a whole number 1..255`);
  return Number(text);
}

/** The master key choice the flags make (and the passphrase, read now). */
async function keysFrom(opts: InitFlags): Promise<InitKeys> {
  const chosen = [opts.passphrase, opts.shares !== undefined || opts.threshold !== undefined, opts.pkcs11Module !== undefined || opts.pkcs11Token !== undefined].filter(Boolean);
  if (chosen.length > 1) throw usageError('choose one of --passphrase, --shares/--threshold, --pkcs11-module/--pkcs11-token');
  if ((opts.passphraseFile !== undefined || opts.passphraseFd !== undefined) && !opts.passphrase) throw usageError('--passphrase-file and --passphrase-fd go with --passphrase');
  if (opts.sharesDir !== undefined && opts.shares === undefined) throw usageError('--shares-dir goes with --shares');
  if (opts.passphrase) {
    const flags = { ...(opts.passphraseFile === undefined ? {} : { passphraseFile: opts.passphraseFile }), ...(opts.passphraseFd === undefined ? {} : { passphraseFd: opts.passphraseFd }) };
    return { provider: 'passphrase', passphrase: await readNewPassphrase(flags) };
  }
  if (opts.shares !== undefined || opts.threshold !== undefined) {
    if (opts.shares === undefined || opts.threshold === undefined) throw usageError('--shares and --threshold go together', 'e.g. --shares 5 --threshold 3');
    return { provider: 'shamir', shares: count(opts.shares, '--shares'), threshold: count(opts.threshold, '--threshold') };
  }
  if (opts.pkcs11Module !== undefined || opts.pkcs11Token !== undefined) {
    if (opts.pkcs11Module === undefined || opts.pkcs11Token === undefined) throw usageError('--pkcs11-module and --pkcs11-token go together');
    return {
      provider: 'pkcs11', module: opts.pkcs11Module, token: opts.pkcs11Token,
      ...(opts.pkcs11Label === undefined ? {} : { label: opts.pkcs11Label }),
      ...(opts.pkcs11PinFile === undefined ? {} : { pinFile: opts.pkcs11PinFile }),
    };
  }
  return { provider: 'file' };
}

/** Writes DIR/share-I.txt (0600, never over an existing file). */
function writeShares(dir: string, shares: string[]): string[] {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return shares.map((share, i) => {
      const path = join(dir, `share-${i + 1}.txt`);
      writeFileSync(path, `${share}\n`, { mode: 0o600, flag: 'wx' });
      return path;
    });
  } catch (e) {
    throw new WardError('ERR_IO', `cannot write the unseal shares into ${dir}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause: e,
      hint: 'the deployment was created: the shares are lost, so delete it and run ward init again',
    });
  }
}

export async function init(dir: string, opts: InitFlags): Promise<void> {
  const keys = await keysFrom(opts);
  let result;
  try {
    result = await initDeployment({ dir, trustDomain: opts.trustDomain, sans: opts.san, keys });
  } finally {
    if (keys.provider === 'passphrase') keys.passphrase.fill(0);
  }
  const rel = relative(process.cwd(), result.dir) || '.';
  const shown = rel.startsWith('..') ? result.dir : rel;
  info(`created deployment ${shown} (trust domain ${result.trustDomain}, server names ${[...result.dnsNames, ...result.ips].join(', ')}, master key: ${result.keyProvider})`);
  info(`CA fingerprint ${result.caFingerprint} (for ward enroll --ca-fingerprint)`);
  info('next steps:');
  info(`  start the server:       npx ward server --config ${shown}/ward.toml`);
  if (result.keyProvider === 'passphrase' || result.keyProvider === 'shamir') {
    info(`  unseal it:              cd ${shown} && npx ward operator unseal${result.keyProvider === 'shamir' ? '   (once per share, up to the threshold)' : ''}`);
  }
  info(`  store a secret:         cd ${shown} && npx ward secret set myapp/prod/DB_PASSWORD < password.txt`);
  info(`  issue a workload cert:  cd ${shown} && npx ward cert issue web-1 --app myapp --env prod --out web-1`);
  info('  run the app with it:    ward run --server https://HOST:8443 --identity web-1 -- CMD');
  const keep = { file: 'master.key', passphrase: 'master.sealed and the passphrase', shamir: 'master.sealed and the shares', pkcs11: 'the token' }[result.keyProvider];
  hint(`keep ${keep} and ca/ca.key private and backed up: without them no secret can be decrypted`);
  out(result.caFingerprint);
  const shares = result.shares;
  if (shares) {
    const threshold = Number(opts.threshold);
    if (opts.sharesDir !== undefined) {
      for (const path of writeShares(opts.sharesDir, shares)) info(`wrote unseal share ${path}`);
    } else {
      shares.forEach((share, i) => out(`share ${i + 1} of ${shares.length} (any ${threshold} unseal): ${share}`));
    }
    hint(`the ${shares.length} unseal shares are shown only now and stored nowhere: give each to a different person`);
  }
}
