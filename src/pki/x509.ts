/**
 * Lazy access to @peculiar/x509, which only certificate *creation* and CSR parsing need.
 *
 * Loading it (and the reflect-metadata polyfill it requires first) costs tens of milliseconds,
 * so the hot paths (identityFromCertificate, fingerprints, `ward run`) use node:crypto's native
 * X509Certificate instead and never call this.
 */
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

type X509Module = typeof X509;

let loaded: Promise<X509Module> | undefined;

/** The @peculiar/x509 module, bound to Node's WebCrypto. */
export function x509(): Promise<X509Module> {
  loaded ??= (async () => {
    await import('reflect-metadata');
    const mod = await import('@peculiar/x509');
    mod.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof mod.cryptoProvider.get>);
    return mod;
  })();
  return loaded;
}

/** asn1js resource limits for parsing untrusted DER (CSRs from the network). */
export const UNTRUSTED_PARSE = {
  berOptions: { maxDepth: 32, maxNodes: 4096, maxContentLength: 16 * 1024 },
} as const;
