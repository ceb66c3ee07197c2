/**
 * Renewal of a workload identity over mTLS (docs/enrol.md): once two thirds of the certificate's
 * lifetime has passed, `POST /v1/renew` with a CSR for the same key; the server checks the
 * current certificate (valid, not revoked, on record) and issues a new one with the same SPIFFE
 * ID. The new cert.pem replaces the old one with one atomic rename, so a reader (WardClient's
 * identity watcher, another process) sees the old pair or the new pair, never a mix; the key does
 * not change (re-enrol to change keys).
 *
 * A revoked or expired certificate cannot renew: the server refuses the connection.
 */
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { WardError } from '../errors.ts';
import { createCsr } from '../pki/csr.ts';
import { identityFromCertificate, verifyCertificate } from '../pki/identity.ts';
import { IDENTITY_FILES, writeFileAtomic } from '../pki/identity-dir.ts';
import { parseCertificate } from '../pki/pem.ts';
import { WardHttpClient } from './http.ts';
import { loadIdentity } from './identity.ts';

/** When a certificate is due for renewal: two thirds into its validity period (ms since the epoch). */
export function renewalDue(certPem: string): number {
  const cert = parseCertificate(certPem);
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  return from + Math.floor(((to - from) * 2) / 3);
}

export interface Renewed {
  serial: string;
  notAfter: Date;
}

/**
 * Renews the identity in `dir` now and rewrites its cert.pem.
 * @throws WardError ERR_TLS_CLIENT_REJECTED / ERR_API_UNAUTHENTICATED (revoked or expired),
 *   ERR_ENROLL_RENEW_REFUSED, ERR_API_UNAVAILABLE, ERR_API_BAD_RESPONSE, ERR_IO
 */
export async function renewIdentity(dir: string, servers: string[], options: { timeoutMs?: number } = {}): Promise<Renewed> {
  const identity = loadIdentity(dir);
  const current = identityFromCertificate(identity.cert);
  const http = new WardHttpClient({ servers, identity, userAgent: 'ward-renew', ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
  let answer: { certificate: string };
  try {
    const csr = await createCsr({ privateKeyPem: identity.key, spiffeId: current.spiffeId });
    answer = await http.request<{ certificate: string }>('POST', '/v1/renew', { body: { csr } });
  } finally {
    http.close();
  }
  if (typeof answer?.certificate !== 'string') throw new WardError('ERR_API_BAD_RESPONSE', 'malformed answer to renew');
  const cert = verifyCertificate(answer.certificate, identity.ca);
  const next = identityFromCertificate(cert);
  if (next.spiffeId !== current.spiffeId || !cert.checkPrivateKey(createPrivateKey(identity.key))) {
    throw new WardError('ERR_API_BAD_RESPONSE', 'the renewed certificate is not for this identity');
  }
  try {
    writeFileAtomic(join(dir, IDENTITY_FILES.cert), answer.certificate, 0o644);
  } catch (e) {
    throw new WardError('ERR_IO', `cannot write ${join(dir, IDENTITY_FILES.cert)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  return { serial: next.serial, notAfter: next.notAfter };
}

/** Refusals that another attempt cannot change (revoked, expired, not renewable). */
const FINAL = new Set(['ERR_API_UNAUTHENTICATED', 'ERR_TLS_CLIENT_REJECTED', 'ERR_ENROLL_RENEW_REFUSED']);

export interface RenewerOptions {
  dir: string;
  servers: string[];
  onRenewed?: (r: Renewed) => void;
  log?: (message: string) => void;
  /** Shortest wait between two attempts (default 30 s); also the retry delay after a failure. */
  minDelayMs?: number;
  now?: () => number;
}

export interface Renewer {
  /** When the next attempt is planned (ms since the epoch). */
  readonly nextAt: number;
  stop(): void;
}

/**
 * Keeps the identity in `dir` renewed: an attempt when it is due, retries on failure (the old
 * certificate works until it expires), the next due time read from the new certificate.
 * Timers are unref'd: the renewer never keeps a process alive on its own.
 */
export function startRenewer(o: RenewerOptions): Renewer {
  const now = o.now ?? Date.now;
  const minDelay = o.minDelayMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const state = { nextAt: 0 };
  const plan = (delayMs: number) => {
    if (stopped) return;
    state.nextAt = now() + delayMs;
    timer = setTimeout(attempt, delayMs);
    timer.unref();
  };
  const planFromDisk = () => plan(Math.max(minDelay, renewalDue(loadIdentity(o.dir).cert) - now()));
  const attempt = () => {
    renewIdentity(o.dir, o.servers).then(
      (r) => {
        o.log?.(`renewed the identity in ${o.dir} (serial ${r.serial}, expires ${r.notAfter.toISOString()})`);
        o.onRenewed?.(r);
        planFromDisk();
      },
      (e: unknown) => {
        const final = e instanceof WardError && FINAL.has(e.code);
        o.log?.(`cannot renew the identity in ${o.dir}: ${e instanceof Error ? e.message : String(e)}${final ? '' : '; retrying'}`);
        if (!final) plan(minDelay);
      },
    );
  };
  // first attempt: when due, at once if already past (a long-stopped workload)
  plan(Math.max(0, renewalDue(loadIdentity(o.dir).cert) - now()));
  return {
    get nextAt() {
      return state.nextAt;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
