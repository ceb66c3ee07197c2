/**
 * The identity a client presents: an identity directory (src/pki/identity-dir.ts, the layout
 * `ward init` writes for `admin/` and `ward cert issue` / `ward enroll` write for workloads):
 * key.pem (0600), cert.pem, ca.pem. Reading refuses a key group or others can read.
 */
import { identityFromCertificate, type Identity as CertIdentity } from '../pki/identity.ts';
import { readIdentityDir } from '../pki/identity-dir.ts';

export interface Identity {
  /** The directory the identity was read from (for messages). */
  dir: string;
  /** PKCS#8 PEM private key: secret. */
  key: string;
  /** Client certificate, PEM. */
  cert: string;
  /** The deployment CA: the only trust anchor for the server's certificate. */
  ca: string;
}

/**
 * Reads an identity directory.
 * @throws WardError ERR_CONFIG (missing file), ERR_IO, ERR_KEY_INSECURE_PERMISSIONS (with a chmod
 *   hint), ERR_PKI_INVALID_CERT (malformed, or key and certificate do not match)
 */
export function loadIdentity(dir: string): Identity {
  const files = readIdentityDir(dir);
  return { dir, key: files.keyPem, cert: files.certPem, ca: files.caPem };
}

/** Who the identity's certificate says it is (SPIFFE ID, role, trust domain, serial, expiry). */
export function describeIdentity(identity: Identity): CertIdentity {
  return identityFromCertificate(identity.cert);
}
