/**
 * Who a client certificate says it is. The server calls {@link identityFromCertificate} on every
 * new TLS connection after node:tls has verified the chain against the deployment CA, so it works
 * from the already-parsed `tls.TLSSocket#getPeerCertificate()` object when given one (no DER
 * parsing, no @peculiar/x509), and from node:crypto's native X509Certificate otherwise.
 *
 * A Ward client certificate has exactly one URI SAN, a Ward SPIFFE ID (spiffe.ts), and the
 * clientAuth extended key usage; the role follows from the ID's path (/admin/… or /app/…).
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { WardError } from '../errors.ts';
import { fingerprint, normaliseFingerprint, parseCertificate } from './pem.ts';
import { parseSpiffeId } from './spiffe.ts';

const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface Identity {
  spiffeId: string;
  trustDomain: string;
  role: 'admin' | 'workload';
  /** Workload only. */
  app: string | undefined;
  env: string | undefined;
  instance: string | undefined;
  /** The admin name, or the workload instance. */
  name: string;
  /** Lowercase hex, as node:tls `serialNumber` lowercased (see normaliseSerial). */
  serial: string;
  /** `sha256:<hex>` of the certificate DER, same form as fingerprint(). */
  fingerprint: string;
  notAfter: Date;
}

/** The subset of node:tls's PeerCertificate this module reads. */
export interface TlsPeerCertificate {
  raw: Buffer;
  subjectaltname?: string;
  serialNumber: string;
  fingerprint256: string;
  valid_to: string;
  ext_key_usage?: string[];
  ca?: boolean;
}

function untrusted(message: string): WardError {
  return new WardError('ERR_PKI_INVALID_CERT', message);
}

/**
 * Splits node's subjectAltName text (`DNS:a, URI:b, IP Address:c`) into [type, value] pairs.
 * Node quotes values holding a comma, quote or control character as JSON strings; those are
 * decoded here so that a crafted value cannot be mistaken for a separate entry.
 */
export function parseSubjectAltName(text: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) throw untrusted('malformed subject alternative name');
    const type = text.slice(i, colon);
    let value: string;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw untrusted('malformed subject alternative name');
      value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      i = j + 1;
    } else {
      const comma = text.indexOf(', ', colon + 1);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
      i = end;
    }
    out.push([type, value]);
    if (i < text.length) {
      if (!text.startsWith(', ', i)) throw untrusted('malformed subject alternative name');
      i += 2;
    }
  }
  return out;
}

function isPeerCertificate(c: unknown): c is TlsPeerCertificate {
  return typeof c === 'object' && c !== null && !(c instanceof X509Certificate) && !Buffer.isBuffer(c)
    && 'fingerprint256' in c && 'serialNumber' in c && 'raw' in c;
}

/**
 * The Ward identity a client certificate carries. Does not verify the chain, validity period or
 * revocation (node:tls checks the first two; the server's store the last).
 * @param cert `getPeerCertificate()` result, node X509Certificate, PEM text, or DER bytes
 * @param options.trustDomain when given, the ID must be in this trust domain
 * @throws WardError ERR_PKI_INVALID_CERT (no or malformed SPIFFE ID, not a client certificate),
 *   ERR_PKI_INVALID_SPIFFE_ID, ERR_PKI_UNTRUSTED (other trust domain), ERR_PKI_TOO_LARGE
 */
export function identityFromCertificate(
  cert: TlsPeerCertificate | PeerCertificate | X509Certificate | string | Buffer,
  options: { trustDomain?: string } = {},
): Identity {
  let san: string | undefined;
  let serial: string;
  let fp: string;
  let notAfter: Date;
  let eku: string[] | undefined;
  let isCa: boolean | undefined;
  if (isPeerCertificate(cert)) {
    if (!cert.raw) throw untrusted('no client certificate');
    san = cert.subjectaltname;
    serial = cert.serialNumber.toLowerCase();
    fp = `sha256:${cert.fingerprint256.replaceAll(':', '').toLowerCase()}`;
    notAfter = new Date(cert.valid_to);
    eku = cert.ext_key_usage;
    isCa = cert.ca;
  } else {
    // getPeerCertificate() answers {} when the client sent no certificate
    if (typeof cert !== 'string' && !Buffer.isBuffer(cert) && !(cert instanceof X509Certificate)) throw untrusted('no client certificate');
    const x = parseCertificate(cert);
    san = x.subjectAltName;
    serial = x.serialNumber.toLowerCase();
    fp = fingerprint(x);
    notAfter = x.validToDate;
    eku = x.keyUsage; // node names the extended key usage OIDs `keyUsage`
    isCa = x.ca;
  }
  if (isCa) throw untrusted('a CA certificate is not a client identity');
  if (!eku?.includes(OID_CLIENT_AUTH)) throw untrusted('certificate is not for client authentication');
  const uris = san ? parseSubjectAltName(san).filter(([type]) => type === 'URI') : [];
  if (uris.length !== 1) throw untrusted('client certificate must carry exactly one SPIFFE ID');
  const spiffeId = uris[0]![1];
  const id = parseSpiffeId(spiffeId);
  if (options.trustDomain !== undefined && id.trustDomain !== options.trustDomain) {
    throw new WardError('ERR_PKI_UNTRUSTED', `certificate is from trust domain ${id.trustDomain}, not ${options.trustDomain}`);
  }
  const common = { spiffeId, trustDomain: id.trustDomain, serial, fingerprint: fp, notAfter };
  return id.kind === 'admin'
    ? { ...common, role: 'admin', app: undefined, env: undefined, instance: undefined, name: id.name }
    : { ...common, role: 'workload', app: id.app, env: id.env, instance: id.instance, name: id.instance };
}

/**
 * Verifies that `cert` was issued and signed by `ca` and is valid at `now`.
 * @throws WardError ERR_PKI_UNTRUSTED, ERR_PKI_INVALID_CERT, ERR_PKI_TOO_LARGE
 */
export function verifyCertificate(
  cert: string | Buffer | X509Certificate,
  ca: string | Buffer | X509Certificate,
  options: { now?: Date } = {},
): X509Certificate {
  const leaf = parseCertificate(cert);
  const root = parseCertificate(ca);
  if (!root.ca) throw new WardError('ERR_PKI_UNTRUSTED', 'the CA certificate is not a CA');
  if (!leaf.checkIssued(root) || !leaf.verify(root.publicKey)) {
    throw new WardError('ERR_PKI_UNTRUSTED', 'certificate was not issued by this CA');
  }
  const now = (options.now ?? new Date()).getTime();
  for (const c of [leaf, root]) {
    if (now < c.validFromDate.getTime()) throw new WardError('ERR_PKI_UNTRUSTED', 'certificate is not yet valid');
    if (now > c.validToDate.getTime()) throw new WardError('ERR_PKI_UNTRUSTED', 'certificate has expired', { hint: 'issue or enrol a new certificate' });
  }
  return leaf;
}

/**
 * Checks a CA certificate against a pinned fingerprint (`ward enroll --ca-fingerprint`).
 * @throws WardError ERR_PKI_UNTRUSTED on mismatch, ERR_USAGE for a malformed pin
 */
export function checkFingerprint(cert: string | Buffer | X509Certificate, expected: string): void {
  if (fingerprint(cert) !== normaliseFingerprint(expected)) {
    throw new WardError('ERR_PKI_UNTRUSTED', 'CA certificate does not match the pinned fingerprint', {
      hint: 'check --ca-fingerprint against the value ward init printed',
    });
  }
}
