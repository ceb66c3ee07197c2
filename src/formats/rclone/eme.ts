/**
 * EME (ECB-Mix-ECB), the wide-block mode rclone uses for names: Halevi and Rogaway, "A
 * Parallelizable Enciphering Mode" (2003), as implemented by github.com/rfjakob/eme, which rclone
 * calls with AES-256 and a 16-byte tweak. Deterministic: one name always encrypts the same way,
 * and two names with a common prefix share no ciphertext prefix.
 *
 * Built from AES-ECB blocks of node:crypto (OpenSSL). ECB keeps no state between `update` calls,
 * so one cipher object per direction serves every name. Input: 1 to 128 blocks of 16 bytes.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type Cipheriv, type Decipheriv } from 'node:crypto';

const BLOCK = 16;
/** rfjakob/eme's limit, and rclone's 2048-byte name bound. */
export const EME_MAX_BLOCKS = 128;

/** Doubling in GF(2^128), little-endian as in rfjakob/eme's multByTwo (reduction 0x87). */
function double(x: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  out[0] = ((x[0]! << 1) & 0xff) ^ (x[15]! >= 0x80 ? 0x87 : 0);
  for (let j = 1; j < BLOCK; j++) out[j] = ((x[j]! << 1) & 0xff) | (x[j - 1]! >> 7);
  return out;
}

function xorInto(dst: Buffer, dstOff: number, a: Buffer, aOff: number, b: Buffer, bOff: number): void {
  for (let i = 0; i < BLOCK; i++) dst[dstOff + i] = a[aOff + i]! ^ b[bOff + i]!;
}

export class Eme {
  readonly #enc: Cipheriv;
  readonly #dec: Decipheriv;
  readonly #tweak: Buffer;
  /** L_j = 2^(j+1) · AES(K, 0^16), for j < EME_MAX_BLOCKS. */
  readonly #l: Buffer[] = [];

  constructor(key: Buffer, tweak: Buffer) {
    if (key.length !== 32) throw new TypeError('EME key must be 32 bytes');
    if (tweak.length !== BLOCK) throw new TypeError('EME tweak must be 16 bytes');
    const k = createSecretKey(key);
    this.#enc = createCipheriv('aes-256-ecb', k, null).setAutoPadding(false);
    this.#dec = createDecipheriv('aes-256-ecb', k, null).setAutoPadding(false);
    this.#tweak = Buffer.from(tweak);
    let li: Buffer = this.#enc.update(Buffer.alloc(BLOCK));
    for (let j = 0; j < EME_MAX_BLOCKS; j++) {
      li = double(li);
      this.#l.push(li);
    }
  }

  encrypt(data: Buffer): Buffer {
    return this.#transform(data, (b) => this.#enc.update(b));
  }

  decrypt(data: Buffer): Buffer {
    return this.#transform(data, (b) => this.#dec.update(b));
  }

  #transform(p: Buffer, aes: (b: Buffer) => Buffer): Buffer {
    const m = p.length / BLOCK;
    if (!Number.isInteger(m) || m < 1 || m > EME_MAX_BLOCKS) {
      throw new TypeError(`EME input must be 1 to ${EME_MAX_BLOCKS} blocks of 16 bytes`);
    }
    const l = this.#l;
    const pp = Buffer.alloc(p.length);
    for (let j = 0; j < m; j++) xorInto(pp, j * BLOCK, p, j * BLOCK, l[j]!, 0);
    const c = aes(pp); // PPP_j
    const mp = Buffer.from(this.#tweak);
    for (let j = 0; j < m; j++) xorInto(mp, 0, mp, 0, c, j * BLOCK);
    const mc = aes(mp);
    let mm: Buffer = Buffer.alloc(BLOCK);
    xorInto(mm, 0, mp, 0, mc, 0);
    for (let j = 1; j < m; j++) {
      mm = double(mm);
      xorInto(c, j * BLOCK, c, j * BLOCK, mm, 0); // CCC_j = PPP_j ⊕ 2^(j-1)·M
    }
    const ccc1 = Buffer.alloc(BLOCK);
    xorInto(ccc1, 0, mc, 0, this.#tweak, 0);
    for (let j = 1; j < m; j++) xorInto(ccc1, 0, ccc1, 0, c, j * BLOCK);
    ccc1.copy(c, 0);
    const out = aes(c);
    for (let j = 0; j < m; j++) xorInto(out, j * BLOCK, out, j * BLOCK, l[j]!, 0);
    return out;
  }
}
