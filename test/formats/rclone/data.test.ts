// rclone crypt file contents: size boundaries, streaming byte by byte, tampering, truncation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import {
  BLOCK_BYTES,
  BlockOpener,
  HEADER_BYTES,
  decryptStream,
  decryptedSize,
  encryptStream,
  encryptedSize,
} from '../../../src/formats/rclone/index.ts';
import { WardError } from '../../../src/errors.ts';

const key = randomBytes(32);
const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

/** Runs `data` through `t` in pieces of `piece` bytes and collects the output. */
async function through(t: Transform, data: Buffer, piece: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const pieces = function* () {
    for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
  };
  await pipeline(Readable.from(pieces()), t, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) chunks.push(c);
  });
  return Buffer.concat(chunks);
}

const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536 + 5];

for (const size of SIZES) {
  test(`round trip of ${size} bytes, whole and streamed in odd pieces`, async () => {
    const plain = randomBytes(size);
    const enc = await through(encryptStream(key), plain, 65536);
    assert.equal(enc.length, encryptedSize(size));
    assert.equal(decryptedSize(enc.length), size);
    assert.deepEqual(enc.subarray(0, 8), Buffer.from('RCLONE\0\0', 'latin1'));
    assert.deepEqual(await through(decryptStream(key), enc, enc.length || 1), plain);
    const odd = await through(encryptStream(key, enc.subarray(8, 32)), plain, 4099);
    assert.deepEqual(odd, enc, 'same nonce, same ciphertext whatever the piece size');
    assert.deepEqual(await through(decryptStream(key), enc, 7919), plain);
  });
}

test('streaming byte by byte, both ways', async () => {
  const plain = randomBytes(65536 + 3);
  const enc = await through(encryptStream(key), plain, 1);
  assert.equal(enc.length, encryptedSize(plain.length));
  assert.deepEqual(await through(decryptStream(key), enc, 1), plain);
});

test('a long stream (96 MiB) goes through in flat memory', async () => {
  const size = 96 * 1024 * 1024;
  const piece = Buffer.alloc(1024 * 1024, 7);
  let produced = 0;
  let seen = 0;
  // Flat memory means backpressure: what has been produced but not yet seen stays bounded. (An
  // RSS threshold would depend on when the garbage collector runs on a loaded machine.)
  let inFlight = 0;
  await pipeline(
    Readable.from((function* () {
      while (produced < size) {
        produced += piece.length;
        yield piece;
      }
    })()),
    encryptStream(key),
    decryptStream(key),
    async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) {
        seen += c.length;
        inFlight = Math.max(inFlight, produced - seen);
      }
    },
  );
  assert.equal(seen, size);
  assert.ok(inFlight < 40 * 1024 * 1024, `${inFlight >> 20} MiB in flight for a 96 MiB stream`);
});

test('a flipped bit in any block fails that block with ERR_RCLONE_BLOCK', async () => {
  const plain = randomBytes(3 * 65536 + 5);
  const enc = await through(encryptStream(key), plain, 65536);
  for (const block of [0, 1, 3]) {
    const bad = Buffer.from(enc);
    bad[HEADER_BYTES + block * BLOCK_BYTES + 20]! ^= 1;
    await assert.rejects(through(decryptStream(key), bad, 65536), code('ERR_RCLONE_BLOCK'));
  }
  const nonce = Buffer.from(enc);
  nonce[10]! ^= 1;
  await assert.rejects(through(decryptStream(key), nonce, 65536), code('ERR_RCLONE_BLOCK'));
});

test('another key fails with ERR_RCLONE_BLOCK', async () => {
  const enc = await through(encryptStream(key), randomBytes(100), 100);
  await assert.rejects(through(decryptStream(randomBytes(32)), enc, 100), code('ERR_RCLONE_BLOCK'));
});

test('header errors: too short, bad magic', async () => {
  await assert.rejects(through(decryptStream(key), Buffer.alloc(0), 1), code('ERR_RCLONE_HEADER'));
  await assert.rejects(through(decryptStream(key), Buffer.from('RCLONE\0\0'), 8), code('ERR_RCLONE_HEADER'));
  const enc = await through(encryptStream(key), randomBytes(10), 10);
  enc[0] = 0x72;
  await assert.rejects(through(decryptStream(key), enc, 10), code('ERR_RCLONE_HEADER'));
  assert.throws(() => new BlockOpener(key).header(Buffer.alloc(31)), code('ERR_RCLONE_HEADER'));
});

test('a file cut inside a block MAC is ERR_RCLONE_TRUNCATED; inside the data, ERR_RCLONE_BLOCK', async () => {
  const enc = await through(encryptStream(key), randomBytes(65536 + 100), 65536);
  const cutMac = enc.subarray(0, HEADER_BYTES + BLOCK_BYTES + 10);
  await assert.rejects(through(decryptStream(key), cutMac, 65536), code('ERR_RCLONE_TRUNCATED'));
  assert.throws(() => decryptedSize(cutMac.length), code('ERR_RCLONE_TRUNCATED'));
  await assert.rejects(through(decryptStream(key), enc.subarray(0, enc.length - 1), 65536), code('ERR_RCLONE_BLOCK'));
});

test('the format cannot see a cut at a block boundary (documented limitation)', async () => {
  const plain = randomBytes(2 * 65536);
  const enc = await through(encryptStream(key), plain, 65536);
  const cut = enc.subarray(0, HEADER_BYTES + BLOCK_BYTES);
  assert.deepEqual(await through(decryptStream(key), cut, 65536), plain.subarray(0, 65536));
});
