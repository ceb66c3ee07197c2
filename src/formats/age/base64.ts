/**
 * Canonical, unpadded standard base64 as the age header uses it (RFC 4648 section 4 without
 * "=", and, like Go's RawStdEncoding.Strict(), no non-zero trailing bits and no CR/LF).
 */

const ALPHABET = /^[A-Za-z0-9+/]*$/;

/** Decodes canonical unpadded base64; null when `s` is not exactly that. */
export function decodeBase64Strict(s: string): Buffer | null {
  if (!ALPHABET.test(s) || s.length % 4 === 1) return null;
  const b = Buffer.from(s, 'base64');
  return encodeBase64NoPad(b) === s ? b : null;
}

export function encodeBase64NoPad(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return s.slice(0, s.length - pad);
}
