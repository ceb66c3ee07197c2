/**
 * STREAM and the whole-file transformers at sizes around the 64 KiB chunk boundary, streamed in
 * random pieces and byte by byte; size helpers; tampering releases only verified chunks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { CHUNK_SIZE, createDecryptor, createEncryptor, encryptedSize, plaintextSize, StreamDecryptor, StreamEncryptor, X25519Identity, type Transformer } from '../../../src/formats/age/index.ts';
import { secretKey } from '../../../src/formats/age/primitives.ts';

const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 10 * 1024 * 1024];

async function feedRandomly(t: Transformer, input: Buffer, maxPiece: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let off = 0; off < input.length; ) {
    const n = randomInt(0, maxPiece + 1);
    // Pass a copy that is overwritten afterwards: transformers must not keep references.
    const piece = Buffer.from(input.subarray(off, off + n));
    await t.push(piece, out);
    piece.fill(0xee);
    off += n;
  }
  await t.finish(out);
  return Buffer.concat(out);
}

async function feedBytes(t: Transformer, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) await t.push(input.subarray(i, i + 1), out);
  await t.finish(out);
  return Buffer.concat(out);
}

for (const size of SIZES) {
  test(`round trip of ${size} bytes in random pieces`, async () => {
    const id = X25519Identity.generate();
    const plaintext = randomBytes(size);
    const ct = await feedRandomly(await createEncryptor([id.recipient]), plaintext, 200_000);
    const header = ct.indexOf('\n---') + 1;
    const headerEnd = ct.indexOf('\n', header) + 1;
    assert.equal(ct.length - headerEnd - 16, encryptedSize(size), 'ciphertext size');
    assert.equal(plaintextSize(ct.length - headerEnd - 16), size);
    assert.ok((await feedRandomly(createDecryptor([id]), ct, 200_000)).equals(plaintext));
  });
}

for (const size of [0, 1, 1000, CHUNK_SIZE + 1]) {
  test(`byte-by-byte streaming of ${size} bytes, binary and armored`, async () => {
    const id = X25519Identity.generate();
    const plaintext = randomBytes(size);
    for (const armor of [false, true]) {
      const ct = await feedBytes(await createEncryptor([id.recipient], { armor }), plaintext);
      assert.ok((await feedBytes(createDecryptor([id]), ct)).equals(plaintext), `armor ${armor}`);
    }
  });
}

test('STREAM: tampering with chunk k releases exactly chunks 0..k-1', async () => {
  const key = secretKey(randomBytes(32));
  const plaintext = randomBytes(3 * CHUNK_SIZE + 5);
  const enc = new StreamEncryptor(key);
  const parts: Buffer[] = [];
  enc.push(plaintext, parts);
  enc.finish(parts);
  const ct = Buffer.concat(parts);
  for (let k = 0; k < 4; k++) {
    const bad = Buffer.from(ct);
    bad[k * (CHUNK_SIZE + 16) + 3]! ^= 1;
    const dec = new StreamDecryptor(key);
    const out: Buffer[] = [];
    assert.throws(() => {
      dec.push(bad, out);
      dec.finish(out);
    }, { code: 'ERR_AGE_PAYLOAD' });
    assert.ok(Buffer.concat(out).equals(plaintext.subarray(0, k * CHUNK_SIZE)), `chunk ${k}`);
  }
});

test('STREAM: truncation at any chunk boundary or inside a chunk fails', async () => {
  const key = secretKey(randomBytes(32));
  const enc = new StreamEncryptor(key);
  const parts: Buffer[] = [];
  enc.push(randomBytes(2 * CHUNK_SIZE + 10), parts);
  enc.finish(parts);
  const ct = Buffer.concat(parts);
  for (const cut of [0, 10, CHUNK_SIZE + 16, 2 * (CHUNK_SIZE + 16), ct.length - 1]) {
    const dec = new StreamDecryptor(key);
    assert.throws(() => {
      const out: Buffer[] = [];
      dec.push(ct.subarray(0, cut), out);
      dec.finish(out);
    }, { code: 'ERR_AGE_PAYLOAD' }, `cut at ${cut}`);
  }
});

test('size helpers reject impossible sizes', () => {
  assert.equal(encryptedSize(0), 16);
  assert.equal(encryptedSize(CHUNK_SIZE), CHUNK_SIZE + 16);
  assert.equal(encryptedSize(CHUNK_SIZE + 1), CHUNK_SIZE + 1 + 32);
  assert.throws(() => plaintextSize(15), { code: 'ERR_AGE_PAYLOAD' });
  assert.throws(() => plaintextSize(CHUNK_SIZE + 16 + 16), { code: 'ERR_AGE_PAYLOAD' }, 'empty final chunk after a full one');
  assert.throws(() => encryptedSize(-1), TypeError);
});
