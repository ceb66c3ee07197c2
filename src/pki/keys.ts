/**
 * Key pairs for certificates: ECDSA P-256 only (SPEC §2, "ECDSA P-256 by default").
 *
 * WARD: Ward issues and accepts only P-256 keys. Every TLS stack a device or container may run
 * (OpenSSL, BoringSSL, rustls, mbedTLS, Go) supports it, and a single key type keeps CSR checks
 * and policies simple. Private keys are PKCS#8 PEM, public keys SPKI PEM.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, type webcrypto } from 'node:crypto';
import { WardError, type WardErrorCode } from '../errors.ts';

export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface KeyPairPem {
  /** PKCS#8 PEM ("PRIVATE KEY"); a secret: write it 0600, never log it. */
  privateKeyPem: string;
  /** SPKI PEM ("PUBLIC KEY"). */
  publicKeyPem: string;
}

/** Generates an ECDSA P-256 key pair. */
export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function requireP256(key: KeyObject, code: WardErrorCode, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new WardError(code, `${what} is not an ECDSA P-256 key`, { hint: 'Ward accepts only ECDSA P-256 keys' });
  }
  return key;
}

/**
 * Parses a P-256 private key (PKCS#8 or SEC1 PEM, or a KeyObject).
 * @throws WardError ERR_PKI_INVALID_CERT
 */
export function parsePrivateKey(key: string | Buffer | KeyObject): KeyObject {
  let k: KeyObject;
  try {
    k = key instanceof KeyObject ? key : createPrivateKey(key);
  } catch (e) {
    throw new WardError('ERR_PKI_INVALID_CERT', 'malformed private key', { cause: e });
  }
  if (k.type !== 'private') throw new WardError('ERR_PKI_INVALID_CERT', 'not a private key');
  return requireP256(k, 'ERR_PKI_INVALID_CERT', 'private key');
}

/**
 * Parses a P-256 public key (SPKI PEM/DER, or a KeyObject; a private key yields its public half).
 * @throws WardError `code` (default ERR_PKI_INVALID_CERT)
 */
export function parsePublicKey(key: string | Buffer | KeyObject, code: WardErrorCode = 'ERR_PKI_INVALID_CERT'): KeyObject {
  let k: KeyObject;
  try {
    if (key instanceof KeyObject) k = key.type === 'private' ? createPublicKey(key) : key;
    else if (Buffer.isBuffer(key) && !key.subarray(0, 5).equals(Buffer.from('-----'))) k = createPublicKey({ key, format: 'der', type: 'spki' });
    else k = createPublicKey(key);
  } catch (e) {
    throw new WardError(code, 'malformed public key', { cause: e });
  }
  return requireP256(k, code, 'public key');
}

/** A P-256 private key as a WebCrypto signing key (for @peculiar/x509). */
export function toSigningKey(key: KeyObject): webcrypto.CryptoKey {
  return key.toCryptoKey(EC_ALGORITHM, false, ['sign']) as webcrypto.CryptoKey;
}

/** A P-256 public key as a WebCrypto key (for @peculiar/x509). */
export function toVerifyKey(key: KeyObject): webcrypto.CryptoKey {
  return (key.type === 'private' ? createPublicKey(key) : key).toCryptoKey(EC_ALGORITHM, true, ['verify']) as webcrypto.CryptoKey;
}
