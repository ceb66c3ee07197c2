/**
 * rclone's name encoding for `filename_encoding = base32` (the default): RFC 4648 base32 with the
 * extended hex alphabet, lowercased, padding stripped (rclone backend/crypt/cipher.go,
 * caseInsensitiveBase32Encoding). Decoding accepts either case, as rclone does.
 *
 * WARD: decoding also rejects non-canonical input (non-zero trailing bits), so one encrypted name
 * has exactly one spelling per case; rclone never writes such names.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuv';
const VALUES = new Map<string, number>();
for (let i = 0; i < ALPHABET.length; i++) {
  VALUES.set(ALPHABET[i]!, i);
  VALUES.set(ALPHABET[i]!.toUpperCase(), i);
}
/** Lengths mod 8 that a whole number of bytes can produce. */
const VALID_TAIL = new Set([0, 2, 4, 5, 7]);

export function encodeBase32Hex(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of data) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes, or returns undefined for text that is not canonical unpadded base32hex. */
export function decodeBase32Hex(text: string): Buffer | undefined {
  if (!VALID_TAIL.has(text.length % 8)) return undefined;
  const out = Buffer.alloc(Math.floor((text.length * 5) / 8));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const ch of text) {
    const v = VALUES.get(ch);
    if (v === undefined) return undefined;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return acc === 0 ? out : undefined;
}
