/**
 * rclone's password "obscuring" (fs/config/obscure, rclone 64ab1ac): how rclone.conf and the
 * RCLONE_CONFIG_<REMOTE>_PASSWORD variables hold crypt passwords. It is NOT encryption (the key
 * is public, in rclone's source); it only keeps a password from being read at a glance.
 *
 *   obscured = base64url-nopad(iv[16] ‖ AES-256-CTR(FIXED_KEY, iv, password))
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { WardError } from '../../errors.ts';

const OBSCURE_KEY = Buffer.from('9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638', 'hex');
const IV_BYTES = 16;
const BASE64URL_NOPAD = /^[A-Za-z0-9_-]*$/;

function ctr(iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-256-ctr', OBSCURE_KEY, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Obscures a password the way `rclone obscure` does. `iv` is for tests; normally random. */
export function obscure(password: Uint8Array, iv: Buffer = randomBytes(IV_BYTES)): string {
  if (iv.length !== IV_BYTES) throw new TypeError(`iv must be ${IV_BYTES} bytes`);
  return Buffer.concat([iv, ctr(iv, Buffer.from(password))]).toString('base64url');
}

/**
 * Reveals an obscured password (rclone's `Reveal`).
 * @throws WardError ERR_RCLONE_OBSCURED when the text is not base64url or is too short
 */
export function reveal(obscured: string): Buffer {
  const text = obscured.trim();
  const raw = BASE64URL_NOPAD.test(text) && text.length % 4 !== 1 ? Buffer.from(text, 'base64url') : undefined;
  if (raw === undefined || raw.length < IV_BYTES) {
    throw new WardError('ERR_RCLONE_OBSCURED', 'value is not an rclone-obscured password', {
      hint: 'pass the value from rclone.conf or `rclone obscure`, or drop --obscured for a plain password',
    });
  }
  return ctr(raw.subarray(0, IV_BYTES), raw.subarray(IV_BYTES));
}
