/**
 * Printable unseal shares (docs/formats.md, "Sealed master key"):
 *
 *   ward-share-v1-<index>-<body>-<check>
 *
 *   index  decimal 1..255, no leading zero: the share's x coordinate
 *   body   base32 (RFC 4648 alphabet, lowercase, no padding; 60 characters) of
 *          set id (4 bytes) ‖ threshold (1 byte) ‖ y values (32 bytes)
 *   check  base32 of the first 5 bytes of SHA-256("ward-share-v1-<index>-<body>") (8 characters)
 *
 * The set id ties a share to one split (it is also in the sealed key file), so a share of another
 * deployment is refused on its own; the checksum catches a mistyped character. Parsing accepts
 * upper case and surrounding white space, nothing else.
 */
import { createHash } from 'node:crypto';
import { WardError } from '../errors.ts';
import type { Share } from './shamir.ts';

const PREFIX = 'ward-share-v1-';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
export const SET_ID_BYTES = 4;
const VALUE_BYTES = 32;
const BODY_BYTES = SET_ID_BYTES + 1 + VALUE_BYTES;
const PATTERN = /^ward-share-v1-([1-9][0-9]{0,2})-([a-z2-7]{60})-([a-z2-7]{8})$/;

export interface EncodedShare extends Share {
  setId: Buffer;
  threshold: number;
}

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes canonical base32 (unused trailing bits zero), or undefined. */
function unbase32(text: string, size: number): Buffer | undefined {
  const out = Buffer.alloc(size);
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (const c of text) {
    acc = ((acc << 5) | ALPHABET.indexOf(c)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      if (n === size) return undefined;
      out[n++] = (acc >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  if (n !== size || (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

function checksum(head: string): string {
  return base32(createHash('sha256').update(head).digest().subarray(0, 5));
}

export function encodeShare(share: EncodedShare): string {
  if (share.setId.length !== SET_ID_BYTES || share.value.length !== VALUE_BYTES) throw new TypeError('bad share');
  const body = Buffer.concat([share.setId, Buffer.of(share.threshold), share.value]);
  const head = `${PREFIX}${share.index}-${base32(body)}`;
  body.fill(0);
  return `${head}-${checksum(head)}`;
}

/**
 * Parses a share string.
 * @throws WardError ERR_SHAMIR_SHARE_INVALID when malformed or the checksum does not match
 */
export function decodeShare(text: string): EncodedShare {
  const m = PATTERN.exec(text.trim().toLowerCase());
  if (!m || Number(m[1]) > 255) {
    throw new WardError('ERR_SHAMIR_SHARE_INVALID', 'not an unseal share (expected ward-share-v1-<index>-<60 characters>-<8 characters>)');
  }
  const [, index, bodyText, check] = m as unknown as [string, string, string, string];
  if (checksum(`${PREFIX}${index}-${bodyText}`) !== check) {
    throw new WardError('ERR_SHAMIR_SHARE_INVALID', `unseal share ${index} does not match its checksum`, { hint: 'the share was mistyped or damaged; copy it again' });
  }
  const body = unbase32(bodyText, BODY_BYTES);
  if (!body) throw new WardError('ERR_SHAMIR_SHARE_INVALID', `unseal share ${index} is not canonical base32`);
  const share = {
    index: Number(index),
    setId: Buffer.from(body.subarray(0, SET_ID_BYTES)),
    threshold: body[SET_ID_BYTES]!,
    value: Buffer.from(body.subarray(SET_ID_BYTES + 1)),
  };
  body.fill(0);
  return share;
}
