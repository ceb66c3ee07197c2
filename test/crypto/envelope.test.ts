import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openAesGcm, sealAesGcm, SEAL_OVERHEAD } from '../../src/crypto/aead.ts';
import { openEnvelope, sealEnvelope } from '../../src/crypto/envelope.ts';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { WardError } from '../../src/errors.ts';

const aad = Buffer.from('app/env/NAME\0v1');

test('AES-256-GCM round trip at several sizes', () => {
  const key = randomBytes(32);
  for (const size of [0, 1, 15, 16, 17, 1024, 100_000]) {
    const pt = randomBytes(size);
    const sealed = sealAesGcm(key, pt, aad);
    assert.equal(sealed.length, size + SEAL_OVERHEAD);
    assert.deepEqual(openAesGcm(key, sealed, aad), pt);
  }
});

test('AES-256-GCM refuses other associated data, other key, any flipped bit, short input', () => {
  const key = randomBytes(32);
  const sealed = sealAesGcm(key, Buffer.from('secret value'), aad);
  const fails = (fn: () => unknown, code: string) => assert.throws(fn, (e: unknown) => e instanceof WardError && e.code === code);
  fails(() => openAesGcm(key, sealed, Buffer.from('app/env/OTHER\0v1')), 'ERR_CRYPTO_AUTH');
  fails(() => openAesGcm(randomBytes(32), sealed, aad), 'ERR_CRYPTO_AUTH');
  for (let i = 0; i < sealed.length; i++) {
    const t = Buffer.from(sealed);
    t[i]! ^= 0x01;
    fails(() => openAesGcm(key, t, aad), 'ERR_CRYPTO_AUTH');
  }
  fails(() => openAesGcm(key, sealed.subarray(0, 20), aad), 'ERR_CRYPTO_FORMAT');
});

test('envelope: fresh data key per value, bound to its associated data', async () => {
  const provider = rawKeyProvider('test', randomBytes(32));
  const a = await sealEnvelope(provider, Buffer.from('v'), aad);
  const b = await sealEnvelope(provider, Buffer.from('v'), aad);
  assert.notDeepEqual(a.wrappedKey, b.wrappedKey);
  assert.notDeepEqual(a.ciphertext, b.ciphertext);
  assert.equal(a.keyId, provider.keyId);
  assert.deepEqual(await openEnvelope(provider, a, aad), Buffer.from('v'));
  // A ciphertext or a wrapped key moved to another record does not open.
  await assert.rejects(openEnvelope(provider, a, Buffer.from('app/env/NAME\0v2')), { code: 'ERR_CRYPTO_AUTH' });
  await assert.rejects(openEnvelope(provider, { ...a, wrappedKey: b.wrappedKey }, aad), { code: 'ERR_CRYPTO_AUTH' });
});

test('envelope: another master key cannot open it', async () => {
  const p1 = rawKeyProvider('test', randomBytes(32));
  const p2 = rawKeyProvider('test', randomBytes(32));
  const env = await sealEnvelope(p1, Buffer.from('v'), aad);
  await assert.rejects(openEnvelope(p2, env, aad), { code: 'ERR_KEY_NOT_FOUND' });
  await assert.rejects(openEnvelope(p2, { ...env, keyId: p2.keyId }, aad), { code: 'ERR_CRYPTO_AUTH' });
});

test('a closed provider refuses to wrap or unwrap', async () => {
  const p = rawKeyProvider('test', randomBytes(32));
  const env = await sealEnvelope(p, Buffer.from('v'), aad);
  p.close();
  await assert.rejects(openEnvelope(p, env, aad), { code: 'ERR_KEY_SEALED' });
});
