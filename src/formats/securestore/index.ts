/**
 * Secure Store environment variables (read compatibility, SPEC.md §4).
 *
 *   ENCRYPTED_<NAME>=hex( nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16) )     no associated data
 *
 * The key comes from the secret APP/ENV/STORE_PASSWORD. Two generations of that system derived it
 * differently: older data used the password's 64 hex digits as the raw key, newer data uses
 * SHA-256 of the password string. Both are tried; the authentication tag decides, so a wrong guess
 * can never yield wrong plaintext.
 */
import { createHash } from 'node:crypto';
import { openAesGcm, SEAL_OVERHEAD } from '../../crypto/aead.ts';
import { WardError } from '../../errors.ts';

export const ENCRYPTED_PREFIX = 'ENCRYPTED_';
/** The secret holding the key, as the original server named it. */
export const STORE_PASSWORD = 'STORE_PASSWORD';

const NO_AAD = Buffer.alloc(0);

function candidateKeys(password: Buffer): Buffer[] {
  const keys: Buffer[] = [];
  const text = password.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) keys.push(Buffer.from(text, 'hex'));
  keys.push(createHash('sha256').update(password).digest());
  return keys;
}

/**
 * Decrypts the value of one `ENCRYPTED_<NAME>` variable. `variable` is only used in messages.
 * @throws WardError ERR_SECURESTORE_FORMAT (not hex, too short), ERR_SECURESTORE_AUTH (no key opens it)
 */
export function decryptSecureStoreValue(variable: string, hexValue: string, password: Buffer): Buffer {
  const text = hexValue.trim();
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text) || text.length / 2 < SEAL_OVERHEAD) {
    throw new WardError('ERR_SECURESTORE_FORMAT', `${variable} is not a Secure Store value (hex of nonce, ciphertext and tag)`);
  }
  const sealed = Buffer.from(text, 'hex');
  for (const key of candidateKeys(password)) {
    try {
      return openAesGcm(key, sealed, NO_AAD);
    } catch {
      // Try the other key form; only the tag can tell them apart.
    } finally {
      key.fill(0);
    }
  }
  throw new WardError('ERR_SECURESTORE_AUTH', `${variable} does not decrypt with ${STORE_PASSWORD}: wrong key or tampered value`);
}
