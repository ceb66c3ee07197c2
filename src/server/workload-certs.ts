/**
 * Issuing a workload certificate from an untrusted CSR and recording it, shared by enrolment
 * (enroll.ts) and renewal (routes/lifecycle.ts). The SPIFFE ID comes from the token or from the
 * caller's current certificate, never from the CSR: verifyCsr refuses a CSR naming anything else,
 * another key type than P-256, extra extensions, or a bad signature.
 */
import { WardError } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { issueCertificate } from '../pki/issue.ts';
import { parseSpiffeId } from '../pki/spiffe.ts';
import type { Store } from '../store/types.ts';

/** Default lifetime of enrolled and renewed workload certificates (`[pki] workload_ttl`). */
export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3_600_000;

export interface IssuedWorkload {
  certificate: string;
  ca: string;
  serial: string;
  spiffeId: string;
  notAfter: number;
}

/**
 * @throws WardError ERR_ENROLL_DISABLED (no CA key), ERR_PKI_INVALID_CSR, ERR_PKI_TOO_LARGE
 */
export async function issueWorkload(o: { store: Store; ca: CertificateAuthority | null; spiffeId: string; csr: string; ttlMs: number; now: number }): Promise<IssuedWorkload> {
  if (!o.ca) throw new WardError('ERR_ENROLL_DISABLED', 'this server does not hold the CA key', { hint: 'run enrolment on the server that holds [ca] key' });
  const id = parseSpiffeId(o.spiffeId);
  if (id.kind !== 'workload') throw new TypeError('issueWorkload: not a workload SPIFFE ID');
  const issued = await issueCertificate({ ca: o.ca, role: 'workload', name: id.instance, spiffeId: o.spiffeId, csr: o.csr, ttl: o.ttlMs, now: new Date(o.now) });
  await o.store.recordCertificate({
    serial: issued.serial,
    name: id.instance,
    spiffeId: o.spiffeId,
    app: id.app,
    env: id.env,
    role: 'workload',
    notBefore: issued.notBefore.getTime(),
    notAfter: issued.notAfter.getTime(),
    fingerprint: issued.fingerprint,
    issuedAt: o.now,
    revokedAt: null,
  });
  return { certificate: issued.certPem, ca: o.ca.certPem, serial: issued.serial, spiffeId: o.spiffeId, notAfter: issued.notAfter.getTime() };
}
