/**
 * The few node:crypto calls age needs besides STREAM: HKDF-SHA256, HMAC-SHA256, single-shot
 * ChaCha20-Poly1305 with the all-zero nonce (stanza bodies), raw X25519 keys.
 * WARD: src/formats/age uses node:crypto directly (the issue asks for it) rather than src/crypto.
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, createSecretKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

export function hmac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function secretKey(key: Uint8Array): KeyObject {
  return createSecretKey(key);
}

const ZERO_NONCE = Buffer.alloc(12);

/** ChaCha20-Poly1305 with a zero nonce: for keys used exactly once (stanza wrap keys). */
export function sealOnce(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', createSecretKey(key), ZERO_NONCE, { authTagLength: 16 });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

/** Opens {@link sealOnce} output; null when the tag does not verify. */
export function openOnce(key: Uint8Array, sealed: Buffer): Buffer | null {
  if (sealed.length < 16) return null;
  const d = createDecipheriv('chacha20-poly1305', createSecretKey(key), ZERO_NONCE, { authTagLength: 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const out = d.update(sealed.subarray(0, sealed.length - 16));
  try {
    d.final();
  } catch {
    return null;
  }
  return out;
}

// RFC 8410 DER prefixes: raw 32-byte X25519 keys <-> PKCS#8 / SPKI, the forms node:crypto imports.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

export function rawPrivateKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
}

/** X25519; null when the result is the all-zero value (low-order or identity point). */
export function x25519(privateKey: KeyObject, publicRaw: Uint8Array): Buffer | null {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(publicRaw) });
  } catch {
    return null; // OpenSSL refuses an all-zero shared secret
  }
  return shared.some((b) => b !== 0) ? shared : null;
}
