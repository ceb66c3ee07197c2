/**
 * PKCS#10 certificate signing requests (RFC 2986) for enrolment: the device keeps its private
 * key and sends a CSR; the server checks it with {@link verifyCsr} and issues a certificate for
 * the SPIFFE ID the enrolment token grants, never for names the CSR asks for.
 *
 * verifyCsr refuses, with ERR_PKI_INVALID_CSR unless noted:
 * - PEM above {@link MAX_CSR_BYTES} (ERR_PKI_TOO_LARGE), anything but one "CERTIFICATE REQUEST"
 *   block, DER deeper or larger than the untrusted-parse limits;
 * - a key other than ECDSA P-256 (see keys.ts), a signature other than ecdsa-with-SHA256, or a
 *   signature that does not verify (proof of possession);
 * - attributes other than extensionRequest, requested extensions other than subjectAltName;
 * - any SAN other than exactly one URI equal to the expected SPIFFE ID (no SAN at all is fine).
 * The subject is ignored: Ward sets its own.
 */
import type { webcrypto } from 'node:crypto';
import { WardError } from '../errors.ts';
import { isSingleDerSequence } from './der.ts';
import { parsePrivateKey, parsePublicKey, SIGNING_ALGORITHM, toSigningKey, toVerifyKey } from './keys.ts';
import { decodeOnePem, MAX_CSR_BYTES } from './pem.ts';
import { parseSpiffeId } from './spiffe.ts';
import { UNTRUSTED_PARSE, x509 } from './x509.ts';

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

export interface VerifiedCsr {
  /** The requester's P-256 public key, SPKI PEM. */
  publicKeyPem: string;
  /** The SPIFFE ID the certificate will carry (the expected one). */
  spiffeId: string;
}

function refuse(message: string, cause?: unknown): WardError {
  return new WardError('ERR_PKI_INVALID_CSR', message, cause === undefined ? {} : { cause });
}

/**
 * Checks an untrusted CSR against the identity it must be for.
 * @throws WardError ERR_PKI_INVALID_CSR, ERR_PKI_TOO_LARGE, ERR_PKI_INVALID_SPIFFE_ID (bad `expected`)
 */
export async function verifyCsr(csrPem: string | Buffer, expected: { spiffeId: string }): Promise<VerifiedCsr> {
  parseSpiffeId(expected.spiffeId);
  const der = decodeOnePem(csrPem, 'CERTIFICATE REQUEST', 'ERR_PKI_INVALID_CSR', MAX_CSR_BYTES);
  const x = await x509();
  let csr: InstanceType<typeof x.Pkcs10CertificateRequest>;
  let extensions: InstanceType<typeof x.Extension>[];
  try {
    if (!isSingleDerSequence(der)) throw new Error('not one DER sequence');
    csr = new x.Pkcs10CertificateRequest(der, UNTRUSTED_PARSE);
    extensions = csr.extensions;
  } catch (e) {
    throw refuse('malformed certificate request', e);
  }
  const publicKey = parsePublicKey(Buffer.from(csr.publicKey.rawData), 'ERR_PKI_INVALID_CSR');
  const alg = csr.signatureAlgorithm as { name: string; hash?: { name: string } };
  if (alg.name !== 'ECDSA' || alg.hash?.name !== 'SHA-256') throw refuse('certificate request is not signed with ecdsa-with-SHA256');
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (e) {
    throw refuse('certificate request signature does not verify', e);
  }
  if (!valid) throw refuse('certificate request signature does not verify');

  for (const attr of csr.attributes) {
    if (attr.type !== OID_EXTENSION_REQUEST) throw refuse(`certificate request carries an unexpected attribute ${attr.type}`);
  }
  for (const ext of extensions) {
    if (ext.type !== OID_SUBJECT_ALT_NAME) throw refuse(`certificate request asks for an unexpected extension ${ext.type}`);
    let names: readonly { type: string; value: string }[];
    try {
      names = new x.SubjectAlternativeNameExtension(ext.rawData).names.items;
    } catch (e) {
      throw refuse('certificate request has a malformed subject alternative name', e);
    }
    if (names.length !== 1 || names[0]!.type !== 'url') throw refuse('certificate request asks for names other than its SPIFFE ID');
    if (names[0]!.value !== expected.spiffeId) throw refuse('certificate request asks for a different SPIFFE ID');
  }
  return { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), spiffeId: expected.spiffeId };
}

/**
 * Creates a CSR for `spiffeId` signed with a P-256 private key (the enrolling side). Without a
 * SPIFFE ID the CSR names nothing (enrolment: the server picks the ID the token grants).
 * @throws WardError ERR_PKI_INVALID_SPIFFE_ID, ERR_PKI_INVALID_CERT (bad key)
 */
export async function createCsr(options: { privateKeyPem: string; spiffeId?: string }): Promise<string> {
  const id = options.spiffeId === undefined ? undefined : parseSpiffeId(options.spiffeId);
  const priv = parsePrivateKey(options.privateKeyPem);
  const x = await x509();
  const csr = await x.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [id === undefined ? 'ward-enrol' : id.kind === 'admin' ? id.name : id.instance] }],
    keys: { privateKey: toSigningKey(priv), publicKey: toVerifyKey(parsePublicKey(priv)) } as webcrypto.CryptoKeyPair,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: options.spiffeId === undefined ? [] : [new x.SubjectAlternativeNameExtension([{ type: 'url', value: options.spiffeId }], false)],
  });
  return csr.toString('pem').replace(/\r\n/g, '\n').trimEnd() + '\n';
}
