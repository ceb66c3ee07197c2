/**
 * Ward's PKI: the deployment CA, certificate issue, CSRs for enrolment, SPIFFE identities, and
 * the identity directory format. The only public surface of src/pki.
 *
 * Everything is ECDSA P-256 / SHA-256. Creation and CSR parsing use @peculiar/x509 (loaded lazily);
 * reading identities uses node:crypto only, so importing this module is cheap.
 *
 * @module
 */
export { createCA, loadCA, caTrustDomain, DEFAULT_CA_TTL_MS, type CertificateAuthority, type CreateCAOptions } from './ca.ts';
export { issueCertificate, DEFAULT_CLIENT_TTL_MS, DEFAULT_SERVER_TTL_MS, type CertificateRole, type IssueOptions, type IssuedCertificate } from './issue.ts';
export { createCsr, verifyCsr, type VerifiedCsr } from './csr.ts';
export { generateKeyPair, parsePrivateKey, parsePublicKey, type KeyPairPem } from './keys.ts';
export {
  decodePem, decodeOnePem, encodePem, fingerprint, normaliseFingerprint, normaliseSerial, parseCertificate,
  MAX_CSR_BYTES, MAX_PEM_BYTES, type PemBlock,
} from './pem.ts';
export { checkSegment, checkTrustDomain, formatSpiffeId, isValidSegment, parseSpiffeId, trustDomainId, type SpiffeId } from './spiffe.ts';
export {
  checkFingerprint, identityFromCertificate, parseSubjectAltName, verifyCertificate, type Identity, type TlsPeerCertificate,
} from './identity.ts';
export { IDENTITY_FILES, readIdentityDir, writeFileAtomic, writeIdentityDir, type IdentityFiles } from './identity-dir.ts';
