/**
 * Shamir secret sharing over GF(2^8), byte by byte (Shamir 1979, "How to share a secret").
 *
 * The field is GF(2)[x]/(x^8 + x^4 + x^3 + x + 1) (0x11b, AES's), so results agree with the usual
 * implementations (HashiCorp Vault's shamir package uses the same field). Each secret byte is the
 * constant term of its own random polynomial of degree threshold-1; share i holds the values of
 * every polynomial at x = i (1..255). Any `threshold` shares give the secret back by Lagrange
 * interpolation at x = 0; fewer give no information about it. Secrecy rests only on the random
 * coefficients; integrity is not this module's job (the sealed key's AEAD tag decides whether a
 * combination is right).
 *
 * Arithmetic goes through log/antilog tables (generator 0x03): the secret is 32 bytes and split
 * or combined once per unseal, so table look-ups indexed by secret data are not a practical
 * timing channel here.
 */
import { randomBytes } from 'node:crypto';

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    // multiply by the generator 0x03: x*2 xor x, reduced by 0x11b
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0);
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255]!;
}

/** Product in GF(2^8). */
export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

/** Quotient in GF(2^8); `b` must not be 0. */
export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('division by zero in GF(256)');
  if (a === 0) return 0;
  return EXP[LOG[a]! + 255 - LOG[b]!]!;
}

export interface Share {
  /** The x coordinate, 1..255. */
  index: number;
  /** One y value per secret byte. */
  value: Buffer;
}

/**
 * Splits `secret` into `shares` shares, any `threshold` of which recover it.
 * `random` supplies the coefficients (tests pass a fixed source; the default is the CSPRNG).
 */
export function split(secret: Buffer, shares: number, threshold: number, random: (n: number) => Buffer = randomBytes): Share[] {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 255) throw new TypeError('threshold must be 1..255');
  if (!Number.isInteger(shares) || shares < threshold || shares > 255) throw new TypeError('shares must be threshold..255');
  if (secret.length === 0) throw new TypeError('cannot split an empty secret');
  // coefficients[k][j]: coefficient of x^(k+1) in byte j's polynomial
  const coefficients = Array.from({ length: threshold - 1 }, () => random(secret.length));
  const out: Share[] = [];
  for (let x = 1; x <= shares; x++) {
    const value = Buffer.alloc(secret.length);
    for (let j = 0; j < secret.length; j++) {
      // Horner: ((c_{t-1} x + c_{t-2}) x + ...) x + secret
      let y = 0;
      for (let k = threshold - 2; k >= 0; k--) y = gfMul(y ^ coefficients[k]![j]!, x);
      value[j] = y ^ secret[j]!;
    }
    out.push({ index: x, value });
  }
  for (const c of coefficients) c.fill(0);
  return out;
}

/**
 * Recovers the secret from shares with distinct indexes (Lagrange interpolation at 0). With
 * fewer shares than the threshold the result is a wrong secret, not an error: only the caller
 * (through an authentication tag) can tell.
 */
export function combine(shares: readonly Share[]): Buffer {
  if (shares.length === 0) throw new TypeError('no shares');
  const size = shares[0]!.value.length;
  const seen = new Set<number>();
  for (const s of shares) {
    if (!Number.isInteger(s.index) || s.index < 1 || s.index > 255) throw new TypeError('share index must be 1..255');
    if (seen.has(s.index)) throw new TypeError('duplicate share index');
    if (s.value.length !== size) throw new TypeError('shares differ in length');
    seen.add(s.index);
  }
  // Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); subtraction is xor
  const basis = shares.map((si) => {
    let l = 1;
    for (const sj of shares) if (sj !== si) l = gfMul(l, gfDiv(sj.index, sj.index ^ si.index));
    return l;
  });
  const secret = Buffer.alloc(size);
  for (let j = 0; j < size; j++) {
    let y = 0;
    for (let i = 0; i < shares.length; i++) y ^= gfMul(basis[i]!, shares[i]!.value[j]!);
    secret[j] = y;
  }
  return secret;
}
