// The crypto thread computes exactly what the main thread does, and reports failures as WardErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CryptoThread } from '../../src/fs/crypto-thread.ts';
import { BLOCK_BYTES, openBlocks, sealChunks } from '../../src/formats/rclone/index.ts';
import { WardError } from '../../src/errors.ts';

const shared = (n: number) => Buffer.from(new SharedArrayBuffer(n));

test('seal and open on the crypto thread match the inline block loops', async (t) => {
  const key = randomBytes(32);
  const thread = new CryptoThread(key);
  t.after(() => thread.close());
  const plain = shared(3 * 65536 + 5);
  randomBytes(plain.length).copy(plain);
  const nonce = randomBytes(24);
  const inlineNonce = Buffer.from(nonce);
  const threadNonce = Buffer.from(nonce);
  const inlineOut = Buffer.alloc(plain.length + 4 * 16 + 32);
  const threadOut = shared(plain.length + 4 * 16 + 32);
  const n = sealChunks(key, inlineNonce, plain, inlineOut, 32);
  assert.equal(await thread.seal(threadNonce, plain, threadOut, 32), n);
  assert.deepEqual(threadOut, inlineOut);
  assert.deepEqual(threadNonce, inlineNonce, 'the nonce comes back advanced');

  const enc = shared(n);
  threadOut.copy(enc, 0, 32, 32 + n);
  const back = shared(plain.length);
  assert.equal(await thread.open(Buffer.from(nonce), enc, back, 0), plain.length);
  assert.deepEqual(back, plain);

  enc[BLOCK_BYTES + 40]! ^= 1;
  await assert.rejects(thread.open(Buffer.from(nonce), enc, back, 0), (e) => e instanceof WardError && e.code === 'ERR_RCLONE_BLOCK' && /block 1 /.test(e.message));
  assert.throws(() => openBlocks(key, Buffer.from(nonce), enc, Buffer.alloc(plain.length), 0), (e) => e instanceof WardError && e.code === 'ERR_RCLONE_BLOCK');
});
