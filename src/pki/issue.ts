/**
 * Leaf certificates signed by the deployment CA.
 *
 * | role     | extKeyUsage | SAN                                                  | default TTL |
 * |----------|-------------|------------------------------------------------------|-------------|
 * | server   | serverAuth  | DNS and IP names                                     | 365 days    |
 * | admin    | clientAuth  | URI `spiffe://<td>/admin/<name>`                     | 720h        |
 * | workload | clientAuth  | URI `spiffe://<td>/app/<app>/env/<env>/<instance>`   | 720h        |
 *
 * All leaves: ECDSA P-256 key, ecdsa-with-SHA256, basicConstraints CA:false and keyUsage
 * digitalSignature (both critical), SKI/AKI, serial of 16 random bytes (positive), notBefore
 * backdated 5 minutes for clock skew, notAfter capped at the CA's own notAfter, subject
 * `CN=<name>, O=<trust-domain>`.
 */
import { isIP } from 'node:net';
import { X509Certificate, type KeyObject } from 'node:crypto';
import { WardError } from '../errors.ts';
import { BACKDATE_MS, checkTtl, loadCA, randomSerial, type CertificateAuthority } from './ca.ts';
import { verifyCsr } from './csr.ts';
import { parsePrivateKey, parsePublicKey, SIGNING_ALGORITHM, toSigningKey, toVerifyKey } from './keys.ts';
import { fingerprint, parseCertificate } from './pem.ts';
import { checkSegment, formatSpiffeId, parseSpiffeId } from './spiffe.ts';
import { x509 } from './x509.ts';

export type CertificateRole = 'server' | 'admin' | 'workload';

export const DEFAULT_SERVER_TTL_MS = 365 * 24 * 3_600_000;
export const DEFAULT_CLIENT_TTL_MS = 720 * 3_600_000;

export interface IssueOptions {
  ca: CertificateAuthority;
  role: CertificateRole;
  /** Subject CN; for admin the admin name, for workload the instance. A SPIFFE segment. */
  name: string;
  /** The subject's public key (SPKI PEM or KeyObject). Exactly one of publicKey and csr. */
  publicKey?: string | KeyObject;
  /** An untrusted PKCS#10 CSR (PEM); checked with verifyCsr against the SPIFFE ID issued. */
  csr?: string;
  /** Workload: the full SPIFFE ID; otherwise built from app, env and name. Admin: ignored if absent. */
  spiffeId?: string;
  app?: string;
  env?: string;
  /** Server: DNS names and IP addresses (at least one name in all). */
  dnsNames?: string[];
  ips?: string[];
  /** Lifetime in milliseconds; defaults per role (table above). */
  ttl?: number;
  now?: Date;
}

export interface IssuedCertificate {
  certPem: string;
  /** Lowercase hex, as node:tls reports `serialNumber` (lowercased). */
  serial: string;
  /** `sha256:<hex>` of the DER. */
  fingerprint: string;
  /** The URI SAN for admin and workload certificates; undefined for server certificates. */
  spiffeId: string | undefined;
  notBefore: Date;
  notAfter: Date;
}

const DNS_NAME = /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkDnsName(name: string): string {
  if (!DNS_NAME.test(name)) throw new WardError('ERR_USAGE', `invalid DNS name ${JSON.stringify(name.slice(0, 260))}`);
  return name.toLowerCase();
}

function checkIp(ip: string): string {
  if (!isIP(ip)) throw new WardError('ERR_USAGE', `invalid IP address ${JSON.stringify(ip.slice(0, 60))}`);
  return ip;
}

function resolveSpiffeId(o: IssueOptions, trustDomain: string): string | undefined {
  if (o.role === 'server') {
    if (o.spiffeId !== undefined || o.app !== undefined || o.env !== undefined) throw new TypeError('issueCertificate: a server certificate has no SPIFFE ID');
    return undefined;
  }
  let id: string;
  if (o.spiffeId !== undefined) id = o.spiffeId;
  else if (o.role === 'admin') id = formatSpiffeId({ trustDomain, kind: 'admin', name: o.name });
  else {
    if (o.app === undefined || o.env === undefined) throw new TypeError('issueCertificate: a workload needs spiffeId or app and env');
    id = formatSpiffeId({ trustDomain, kind: 'workload', app: o.app, env: o.env, instance: o.name });
  }
  const parsed = parseSpiffeId(id);
  if (parsed.trustDomain !== trustDomain) {
    throw new WardError('ERR_PKI_INVALID_SPIFFE_ID', `SPIFFE ID is outside the CA's trust domain ${trustDomain}`);
  }
  if (parsed.kind !== o.role) throw new WardError('ERR_PKI_INVALID_SPIFFE_ID', `SPIFFE ID is not an ${o.role} ID`);
  return id;
}

/**
 * Issues a certificate signed by `ca`.
 * @throws WardError ERR_USAGE (bad names or ttl), ERR_PKI_INVALID_SPIFFE_ID, ERR_PKI_INVALID_CSR,
 *   ERR_PKI_TOO_LARGE, ERR_PKI_INVALID_CERT (bad CA or key), ERR_PKI_UNTRUSTED (CA expired);
 *   TypeError on misuse
 */
export async function issueCertificate(o: IssueOptions): Promise<IssuedCertificate> {
  if (!['server', 'admin', 'workload'].includes(o.role)) throw new TypeError('issueCertificate: role must be "server", "admin" or "workload"');
  if ((o.publicKey === undefined) === (o.csr === undefined)) throw new TypeError('issueCertificate: give exactly one of publicKey and csr');
  const ca = loadCA(o.ca.certPem, o.ca.keyPem);
  const caCert = parseCertificate(ca.certPem);
  checkSegment(o.name, 'name');
  const spiffeId = resolveSpiffeId(o, ca.trustDomain);
  const dnsNames = (o.dnsNames ?? []).map(checkDnsName);
  const ips = (o.ips ?? []).map(checkIp);
  if (o.role === 'server' ? dnsNames.length + ips.length === 0 : dnsNames.length + ips.length > 0) {
    throw new TypeError('issueCertificate: server certificates need DNS or IP names; client certificates take none');
  }
  const ttl = checkTtl(o.ttl ?? (o.role === 'server' ? DEFAULT_SERVER_TTL_MS : DEFAULT_CLIENT_TTL_MS), 'certificate');

  let subjectKey: KeyObject;
  if (o.csr !== undefined) {
    if (spiffeId === undefined) throw new TypeError('issueCertificate: a CSR is accepted only for client certificates');
    subjectKey = parsePublicKey((await verifyCsr(o.csr, { spiffeId })).publicKeyPem, 'ERR_PKI_INVALID_CSR');
  } else {
    subjectKey = parsePublicKey(o.publicKey!);
  }

  const now = o.now?.getTime() ?? Date.now();
  const notBefore = new Date(Math.max(now - BACKDATE_MS, caCert.validFromDate.getTime()));
  const notAfter = new Date(Math.min(now + ttl, caCert.validToDate.getTime()));
  if (notAfter.getTime() <= now) throw new WardError('ERR_PKI_UNTRUSTED', 'the CA certificate has expired');

  const x = await x509();
  const caKey = parsePrivateKey(ca.keyPem);
  const publicKey = toVerifyKey(subjectKey);
  const san = spiffeId !== undefined
    ? [{ type: 'url' as const, value: spiffeId }]
    : [...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))];
  const eku = o.role === 'server' ? x.ExtendedKeyUsage.serverAuth : x.ExtendedKeyUsage.clientAuth;
  const cert = await x.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [o.name] }, { O: [ca.trustDomain] }],
    issuer: new x.X509Certificate(caCert.raw).subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey,
    signingKey: toSigningKey(caKey),
    extensions: [
      new x.BasicConstraintsExtension(false, undefined, true),
      new x.KeyUsagesExtension(x.KeyUsageFlags.digitalSignature, true),
      new x.ExtendedKeyUsageExtension([eku], false),
      new x.SubjectAlternativeNameExtension(san, false),
      await x.SubjectKeyIdentifierExtension.create(publicKey),
      await x.AuthorityKeyIdentifierExtension.create(toVerifyKey(parsePublicKey(caKey))),
    ],
  });
  const certPem = cert.toString('pem').replace(/\r\n/g, '\n').trimEnd() + '\n';
  const parsed = new X509Certificate(certPem);
  return {
    certPem,
    serial: parsed.serialNumber.toLowerCase(),
    fingerprint: fingerprint(parsed),
    spiffeId,
    notBefore: parsed.validFromDate,
    notAfter: parsed.validToDate,
  };
}
