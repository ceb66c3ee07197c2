import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { combine, gfDiv, gfMul, split } from '../../src/keys/shamir.ts';
import { decodeShare, encodeShare } from '../../src/keys/shares.ts';

/** Carry-less multiplication reduced by 0x11b, bit by bit: the reference for the tables. */
function slowMul(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if (b & (1 << i)) r ^= a;
    a = (a << 1) ^ (a & 0x80 ? 0x11b : 0);
  }
  return r;
}

test('GF(256) multiplication matches the bitwise definition on every pair; division inverts it', () => {
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const p = gfMul(a, b);
      assert.equal(p, slowMul(a, b));
      if (b !== 0) assert.equal(gfDiv(p, b), a);
    }
  }
  // FIPS-197 section 4.2 example: {57} * {83} = {c1}
  assert.equal(gfMul(0x57, 0x83), 0xc1);
  assert.throws(() => gfDiv(1, 0), RangeError);
});

test('every subset of threshold shares recovers the secret; every smaller subset does not', () => {
  const secret = randomBytes(32);
  const shares = split(secret, 5, 3);
  assert.deepEqual(shares.map((s) => s.index), [1, 2, 3, 4, 5]);
  const subsets = (k: number, from = 0): number[][] =>
    k === 0 ? [[]] : Array.from({ length: 5 - from }, (_, i) => from + i).flatMap((i) => subsets(k - 1, i + 1).map((rest) => [i, ...rest]));
  for (const idx of subsets(3)) assert.deepEqual(combine(idx.map((i) => shares[i]!)), secret);
  for (const idx of subsets(4)) assert.deepEqual(combine(idx.map((i) => shares[i]!)), secret);
  for (const idx of subsets(2)) assert.notDeepEqual(combine(idx.map((i) => shares[i]!)), secret);
});

test('threshold-1 shares leave every secret byte possible (perfect secrecy, threshold 2)', () => {
  // With one share (x=1, y) of a degree-1 polynomial s + c*x, each secret s has exactly one c.
  const [one] = split(Buffer.of(0x42), 3, 2);
  const candidates = new Set<number>();
  for (let c = 0; c < 256; c++) candidates.add(one!.value[0]! ^ gfMul(c, one!.index));
  assert.equal(candidates.size, 256);
});

test('a fixed coefficient source gives the hand-computed shares', () => {
  // secret 0x10, coefficient 0x03, threshold 2: y(x) = 0x10 ^ 3x
  const shares = split(Buffer.of(0x10), 3, 2, (n) => Buffer.alloc(n, 0x03));
  assert.deepEqual(shares.map((s) => s.value[0]), [0x10 ^ 0x03, 0x10 ^ gfMul(3, 2), 0x10 ^ gfMul(3, 3)]);
  assert.deepEqual(combine([shares[2]!, shares[0]!]), Buffer.of(0x10));
});

test('threshold 1 shares are the secret itself; misuse throws TypeError', () => {
  const secret = randomBytes(8);
  for (const s of split(secret, 3, 1)) assert.deepEqual(combine([s]), secret);
  assert.throws(() => split(secret, 2, 3), TypeError);
  assert.throws(() => split(secret, 256, 2), TypeError);
  assert.throws(() => split(Buffer.alloc(0), 2, 2), TypeError);
  const [a] = split(secret, 2, 2);
  assert.throws(() => combine([a!, a!]), TypeError);
  assert.throws(() => combine([]), TypeError);
});

test('share strings round-trip and carry index, set id and threshold', () => {
  const value = randomBytes(32);
  const setId = Buffer.from('abcd');
  const text = encodeShare({ index: 7, value, setId, threshold: 3 });
  assert.match(text, /^ward-share-v1-7-[a-z2-7]{60}-[a-z2-7]{8}$/);
  const back = decodeShare(`  ${text.toUpperCase()}\n`);
  assert.deepEqual(back, { index: 7, value, setId, threshold: 3 });
  assert.equal(encodeShare(back), text);
  assert.equal(decodeShare(encodeShare({ index: 255, value, setId, threshold: 1 })).index, 255);
});

test('a mistyped share fails its checksum; malformed shares are refused', () => {
  const text = encodeShare({ index: 2, value: randomBytes(32), setId: randomBytes(4), threshold: 2 });
  const body = text.split('-')[4]!;
  const typo = text.replace(body, (body[0] === 'a' ? 'b' : 'a') + body.slice(1));
  assert.throws(() => decodeShare(typo), { code: 'ERR_SHAMIR_SHARE_INVALID', message: /checksum/ });
  assert.throws(() => decodeShare(text.replace('-2-', '-3-')), { code: 'ERR_SHAMIR_SHARE_INVALID', message: /checksum/ });
  for (const bad of ['', 'ward-share-v2' + text.slice(13), text.replace('-2-', '-0-'), text.replace('-2-', '-256-'), text.slice(0, -1), `${text}a`, text.replace('-2-', '-02-')]) {
    assert.throws(() => decodeShare(bad), { code: 'ERR_SHAMIR_SHARE_INVALID' }, bad);
  }
});

test('a share whose unused base32 bits are set is refused even with a matching checksum', async () => {
  const { createHash } = await import('node:crypto');
  const text = encodeShare({ index: 4, value: randomBytes(32), setId: randomBytes(4), threshold: 2 });
  const [, , , index, body] = text.split('-') as [string, string, string, string, string];
  // 37 bytes = 296 bits: the 60th character carries 1 bit and 4 zero bits
  const last = 'abcdefghijklmnopqrstuvwxyz234567';
  const altered = body.slice(0, 59) + last[(last.indexOf(body[59]!) & 0b10000) | 1];
  const head = `ward-share-v1-${index}-${altered}`;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const digest = createHash('sha256').update(head).digest().subarray(0, 5);
  let bits = 0n;
  for (const b of digest) bits = (bits << 8n) | BigInt(b);
  let check = '';
  for (let i = 7; i >= 0; i--) check += alphabet[Number((bits >> BigInt(i * 5)) & 31n)];
  assert.throws(() => decodeShare(`${head}-${check}`), { code: 'ERR_SHAMIR_SHARE_INVALID', message: /canonical/ });
});
