/**
 * The cryptography of per-value encrypted files (docs/formats.md, "Per-value encrypted files"),
 * format version 1:
 *
 *   file key K    32 random bytes, age-encrypted to the file's recipients (the reserved entry)
 *   value key     HKDF-SHA256(K, salt = "", info = "ward/valuefile/v1/value")
 *   MAC key       HKDF-SHA256(K, salt = "", info = "ward/valuefile/v1/mac")
 *   value token   WARD[v1:age:<type>:<base64(nonce12 ‖ AES-256-GCM ciphertext ‖ tag16)>]
 *   value AAD     "ward/valuefile/v1" ‖ path(key path) ‖ lp(type)
 *   file MAC      HMAC-SHA256(MAC key, "ward/valuefile/v1/mac" ‖ lp(recipients) ‖ u32be(n)
 *                               ‖ for each value in file order: path(key path) ‖ lp(type) ‖ lp(sealed))
 *
 * lp(x) = u32be(len x) ‖ x; path(p) = u16be(segments) ‖ for each: kind byte ('k' key, 'i' index)
 * ‖ lp(utf-8). The length prefixes make both encodings injective, so a ciphertext copied to
 * another key fails authentication, and a removed, added or reordered value changes the MAC.
 *
 * WARD: HKDF and HMAC come from node:crypto here, as in src/formats/age; AES-256-GCM is
 * src/crypto/aead.ts.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { keyObject, openAesGcm, sealAesGcm } from '../../crypto/aead.ts';
import { WardError } from '../../errors.ts';

export const VERSION = 1;
const LABEL = 'ward/valuefile/v1';

/** A key-path segment: an object key, or an array index. */
export type Segment = string | number;
/** What a value was before encryption: string, number, boolean (numbers and booleans as text). */
export type ValueType = 's' | 'n' | 'b';

const TOKEN = /^WARD\[v1:age:([snb]):([A-Za-z0-9+/]*={0,2})\]$/;
const ANY_TOKEN = /^WARD\[/;

/** `db.password`, `servers[0].host`: how errors and decryptValueFile name a value. */
export function displayPath(path: readonly Segment[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

function lp(b: Buffer): Buffer {
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
}

function encodePath(path: readonly Segment[]): Buffer {
  const parts: Buffer[] = [Buffer.from([path.length >> 8, path.length & 0xff])];
  for (const seg of path) parts.push(Buffer.from(typeof seg === 'number' ? 'i' : 'k'), lp(Buffer.from(String(seg), 'utf8')));
  return Buffer.concat(parts);
}

function aad(path: readonly Segment[], type: ValueType): Buffer {
  return Buffer.concat([Buffer.from(LABEL), encodePath(path), lp(Buffer.from(type))]);
}

/** The keys derived from one file key. */
export class FileKeys {
  readonly #value;
  readonly #mac: Buffer;

  constructor(fileKey: Buffer) {
    if (fileKey.length !== 32) throw new WardError('ERR_VALUEFILE_FORMAT', 'invalid file key: wrong size');
    this.#value = keyObject(Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), `${LABEL}/value`, 32)));
    this.#mac = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), `${LABEL}/mac`, 32));
  }

  seal(path: readonly Segment[], type: ValueType, plaintext: Buffer): string {
    return `WARD[v1:age:${type}:${sealAesGcm(this.#value, plaintext, aad(path, type)).toString('base64')}]`;
  }

  /** @throws WardError ERR_VALUEFILE_AUTH (edited, or moved from another key) */
  open(path: readonly Segment[], token: ParsedToken): Buffer {
    try {
      return openAesGcm(this.#value, token.sealed, aad(path, token.type));
    } catch {
      throw new WardError('ERR_VALUEFILE_AUTH', `value at ${displayPath(path)} does not authenticate: edited, or moved from another key`);
    }
  }

  mac(recipients: readonly string[], values: readonly { path: readonly Segment[]; token: ParsedToken }[]): Buffer {
    const h = createHmac('sha256', this.#mac as Uint8Array).update(`${LABEL}/mac`).update(lp(Buffer.from(recipients.join('\n'))));
    const n = Buffer.alloc(4);
    n.writeUInt32BE(values.length);
    h.update(n);
    for (const v of values) h.update(encodePath(v.path)).update(lp(Buffer.from(v.token.type))).update(lp(v.token.sealed));
    return h.digest();
  }

  /** @throws WardError ERR_VALUEFILE_MAC */
  verifyMac(expected: Buffer, recipients: readonly string[], values: readonly { path: readonly Segment[]; token: ParsedToken }[]): void {
    const got = this.mac(recipients, values);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) {
      throw new WardError('ERR_VALUEFILE_MAC', 'file MAC does not verify: a value was removed, added, reordered or moved, or the recipients list was edited');
    }
  }
}

export interface ParsedToken {
  type: ValueType;
  sealed: Buffer;
}

/** Whether a value looks like a Ward token (well-formed or not). */
export function looksLikeToken(text: string): boolean {
  return ANY_TOKEN.test(text);
}

/** @throws WardError ERR_VALUEFILE_FORMAT */
export function parseToken(text: string, path: readonly Segment[]): ParsedToken {
  const m = TOKEN.exec(text);
  if (m === null) throw new WardError('ERR_VALUEFILE_FORMAT', `value at ${displayPath(path)} is not a valid WARD[v1:…] token`);
  const sealed = Buffer.from(m[2]!, 'base64');
  if (sealed.toString('base64') !== m[2]) throw new WardError('ERR_VALUEFILE_FORMAT', `value at ${displayPath(path)}: non-canonical base64`);
  return { type: m[1] as ValueType, sealed };
}
