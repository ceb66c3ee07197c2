/**
 * AES-256-GCM with associated data: the sealing primitive of Ward's envelope encryption.
 *
 * Sealed layout: nonce (12 bytes, random) ‖ ciphertext ‖ tag (16 bytes). Random 96-bit nonces are
 * safe here because every data key seals exactly one value (and a master key wraps at most a few
 * billion data keys over its life, far below the 2^32 bound for random nonces).
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { WardError } from '../errors.ts';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a sealed value adds to its plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** A fresh random 256-bit key. The caller zeroes it (`fill(0)`) when done. */
export function newKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Wraps raw key bytes in a KeyObject (cipher set-up is ~4x faster from a KeyObject than a Buffer). */
export function keyObject(key: Buffer | KeyObject): KeyObject {
  if (!Buffer.isBuffer(key)) return key;
  if (key.length !== KEY_BYTES) throw new TypeError(`AES-256 key must be ${KEY_BYTES} bytes`);
  return createSecretKey(key);
}

export function sealAesGcm(key: Buffer | KeyObject, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return Buffer.concat([nonce, body, last, cipher.getAuthTag()], NONCE_BYTES + body.length + last.length + TAG_BYTES);
}

/**
 * Opens a value sealed by {@link sealAesGcm}. Any mismatch — wrong key, other associated data,
 * a flipped bit — is the same fixed error, so the result cannot serve as an oracle.
 * @throws WardError ERR_CRYPTO_FORMAT (too short), ERR_CRYPTO_AUTH (authentication failed)
 */
export function openAesGcm(key: Buffer | KeyObject, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new WardError('ERR_CRYPTO_FORMAT', 'sealed value is too short');
  const decipher = createDecipheriv('aes-256-gcm', keyObject(key), sealed.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    body.fill(0);
    throw new WardError('ERR_CRYPTO_AUTH', 'decryption failed: wrong key or tampered data');
  }
  return body;
}
