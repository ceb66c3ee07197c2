/**
 * `ward keyprovider` (ocicrypt's key-provider protocol, docs/images.md) and the Ward-server key
 * fetcher shared with `ward image copy --encryption-key/--decryption-key ward:APP/ENV/NAME`.
 *
 * The provider reads one JSON request on stdin and writes one JSON answer on stdout, as ocicrypt
 * runs a `cmd` provider from ocicrypt.conf. It finds its server and identity as operator commands
 * do (WARD_SERVER and WARD_IDENTITY first: that is how containerd/CRI-O pass them). On failure it
 * writes nothing to stdout, the error to stderr, and exits non-zero, which ocicrypt reports.
 */
import { WardError } from '../errors.ts';
import type { FetchSecret } from '../image/ward-keys.ts';
import { openClient, type ContextFlags, type Session } from './context.ts';

/** A fetcher that opens its client on first use; `close` releases it. */
export function lazyFetcher(flags: ContextFlags): { fetch: FetchSecret; close: () => void } {
  let session: Promise<Session> | undefined;
  return {
    fetch: async (ref) => {
      session ??= openClient(flags);
      return (await (await session).client.getSecret(ref)).value;
    },
    close: () => {
      session?.then((s) => s.client.close(), () => {});
    },
  };
}

async function readStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new WardError('ERR_OCICRYPT_FORMAT', 'invalid key-provider request (too large)');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

const write = (b: Buffer) => new Promise<void>((ok, fail) => process.stdout.write(b, (e) => (e ? fail(e) : ok())));

export interface KeyProviderFlags extends ContextFlags {
  name: string;
}

/** One request in, one answer out. */
export async function runKeyProvider(flags: KeyProviderFlags): Promise<void> {
  const oc = await import('../formats/ocicrypt/index.ts');
  const { WardKeyWrapper, parseSecretRef } = await import('../image/ward-keys.ts');
  const request = oc.parseKeyProviderRequest(await readStdin(oc.MAX_KEY_PROVIDER_MESSAGE));
  // `--encryption-key provider:ward:APP/ENV/NAME` arrives as Parameters.ward = ["APP/ENV/NAME"];
  // `--decryption-key provider:ward` as ["Enabled"] (then every key the annotation names is tried)
  const args = (request.parameters[flags.name] ?? []).map((b) => b.toString('utf8')).filter((a) => a !== 'Enabled');
  const { fetch, close } = lazyFetcher(flags);
  try {
    if (request.op === 'keywrap') {
      if (args.length === 0) {
        throw new WardError('ERR_USAGE', `no key for provider ${JSON.stringify(flags.name)} in the keywrap request`, {
          hint: `encrypt with --encryption-key provider:${flags.name}:APP/ENV/NAME`,
        });
      }
      const wrapper = new WardKeyWrapper({ encryptTo: args.map(parseSecretRef), fetch });
      const answer = oc.serializeKeyWrapResponse(await wrapper.wrap(request.optsData));
      request.optsData.fill(0);
      await write(answer);
      return;
    }
    const wrapper = new WardKeyWrapper({ decryptWith: args.length ? args.map(parseSecretRef) : 'any', fetch });
    const opts = await wrapper.unwrap(request.annotation);
    if (!opts) throw new WardError('ERR_OCICRYPT_NO_KEY', 'none of the given Ward keys opens this layer key');
    const answer = oc.serializeKeyUnwrapResponse(opts);
    opts.fill(0);
    await write(answer);
    answer.fill(0);
  } finally {
    close();
  }
}
