/**
 * The deployment's certificate authority: one self-signed ECDSA P-256 root per trust domain.
 *
 * The CA certificate carries basicConstraints CA (pathLen 0, critical), keyUsage keyCertSign and
 * cRLSign (critical), name constraints permitting only `spiffe://<trust-domain>` URIs (critical),
 * subject `CN=Ward CA, O=<trust-domain>`, and the trust domain's own SPIFFE ID
 * `spiffe://<trust-domain>` as URI SAN, from which {@link loadCA} reads the trust domain back.
 */
import { randomBytes, type webcrypto, type X509Certificate } from 'node:crypto';
import { WardError } from '../errors.ts';
import { uriNameConstraints, OID_NAME_CONSTRAINTS } from './der.ts';
import { generateKeyPair, parsePrivateKey, SIGNING_ALGORITHM, toSigningKey, toVerifyKey } from './keys.ts';
import { fingerprint, parseCertificate } from './pem.ts';
import { checkTrustDomain, trustDomainId } from './spiffe.ts';
import { x509 } from './x509.ts';

/** Default CA lifetime: 10 years. */
export const DEFAULT_CA_TTL_MS = 10 * 365 * 24 * 3_600_000;

/** Certificates are valid from this long before issue, to tolerate clock skew between machines. */
export const BACKDATE_MS = 5 * 60_000;

export interface CertificateAuthority {
  /** The CA certificate, PEM. Public: this is `ca.crt` / an identity's `ca.pem`. */
  certPem: string;
  /** The CA private key, PKCS#8 PEM. Secret. */
  keyPem: string;
  trustDomain: string;
  /** `sha256:<hex>` of the CA certificate's DER. */
  fingerprint: string;
}

export interface CreateCAOptions {
  trustDomain: string;
  /** Lifetime in milliseconds; default {@link DEFAULT_CA_TTL_MS}. */
  ttl?: number;
  /** Issue time; default now. */
  now?: Date;
}

/** 16 random bytes, positive, first byte in 0x40..0x7f so the hex form always has 32 digits. */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b.toString('hex');
}

export function checkTtl(ttl: number, what: string): number {
  if (!Number.isSafeInteger(ttl) || ttl < 60_000 || ttl > 100 * 365 * 24 * 3_600_000) {
    throw new WardError('ERR_USAGE', `invalid ${what} lifetime`, { hint: 'a lifetime is between 1m and 100 years, e.g. 720h' });
  }
  return ttl;
}

/**
 * Creates a new CA for `trustDomain`: a fresh P-256 key and a self-signed certificate.
 * @throws WardError ERR_PKI_INVALID_SPIFFE_ID (bad trust domain), ERR_USAGE (bad ttl)
 */
export async function createCA(options: CreateCAOptions): Promise<CertificateAuthority> {
  const trustDomain = checkTrustDomain(options.trustDomain);
  const ttl = checkTtl(options.ttl ?? DEFAULT_CA_TTL_MS, 'CA');
  const now = options.now?.getTime() ?? Date.now();
  const x = await x509();
  const pair = generateKeyPair();
  const priv = parsePrivateKey(pair.privateKeyPem);
  const keys = { privateKey: toSigningKey(priv), publicKey: toVerifyKey(priv) } as webcrypto.CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: ['Ward CA'] }, { O: [trustDomain] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ttl),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x.BasicConstraintsExtension(true, 0, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign, true),
      new x.Extension(OID_NAME_CONSTRAINTS, true, uriNameConstraints(trustDomain)),
      new x.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain) }], false),
      await x.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem').replace(/\r\n/g, '\n').trimEnd() + '\n';
  return { certPem, keyPem: pair.privateKeyPem, trustDomain, fingerprint: fingerprint(certPem) };
}

/** The trust domain a Ward CA certificate names in its `spiffe://<td>` URI SAN. */
export function caTrustDomain(cert: X509Certificate): string {
  const uris = (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:spiffe://'));
  const td = uris.length === 1 ? uris[0]!.slice('URI:spiffe://'.length) : '';
  if (!td || td.includes('/')) throw new WardError('ERR_PKI_INVALID_CERT', 'CA certificate names no trust domain (not a Ward CA)');
  return checkTrustDomain(td);
}

/**
 * Loads a CA from its PEM certificate and private key, checking that the certificate is a CA,
 * that the key belongs to it, and reading its trust domain.
 * @throws WardError ERR_PKI_INVALID_CERT, ERR_PKI_TOO_LARGE
 */
export function loadCA(certPem: string, keyPem: string): CertificateAuthority {
  const cert = parseCertificate(certPem);
  if (!cert.ca) throw new WardError('ERR_PKI_INVALID_CERT', 'certificate is not a CA');
  const key = parsePrivateKey(keyPem);
  if (!cert.checkPrivateKey(key)) throw new WardError('ERR_PKI_INVALID_CERT', 'CA key does not match the CA certificate');
  return { certPem, keyPem, trustDomain: caTrustDomain(cert), fingerprint: fingerprint(cert) };
}
