import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { createVault, secretAad, SECRET_FORMAT } from '../../src/server/vault.ts';
import { WardError } from '../../src/errors.ts';

const ref = { app: 'billing', env: 'prod', name: 'DB_PASSWORD', version: 3 };
const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

test('associated data: label, length-prefixed path, version and format; injective', () => {
  const aad = secretAad({ ...ref, format: 1 });
  assert.equal(aad.toString('hex'), Buffer.concat([
    Buffer.from('ward/secret/v1'),
    Buffer.from([0, 7]), Buffer.from('billing'),
    Buffer.from([0, 4]), Buffer.from('prod'),
    Buffer.from([0, 11]), Buffer.from('DB_PASSWORD'),
    Buffer.from([0, 0, 0, 3]), Buffer.from([0, 1]),
  ]).toString('hex'));
  // moving bytes between segments changes the encoding
  assert.notDeepEqual(secretAad({ app: 'ab', env: 'c', name: 'd', version: 1, format: 1 }), secretAad({ app: 'a', env: 'bc', name: 'd', version: 1, format: 1 }));
  assert.throws(() => secretAad({ ...ref, version: 0, format: 1 }), TypeError);
});

test('seal/open round trip; the data-key cache is used and bounded', async () => {
  const vault = createVault(rawKeyProvider('test', randomBytes(32)), { cacheEntries: 2 });
  const sealed = await vault.seal(ref, Buffer.from('hunter2'));
  assert.equal(sealed.format, SECRET_FORMAT);
  assert.equal((await vault.open(ref, sealed)).toString(), 'hunter2');
  assert.equal((await vault.open(ref, sealed)).toString(), 'hunter2');
  assert.equal(vault.cacheSize(), 1);
  for (let v = 4; v < 8; v++) {
    const s = await vault.seal({ ...ref, version: v }, Buffer.from(`v${v}`));
    assert.equal((await vault.open({ ...ref, version: v }, s)).toString(), `v${v}`);
  }
  assert.equal(vault.cacheSize(), 2);
  vault.close();
  assert.equal(vault.cacheSize(), 0);
});

test('a value moved to another path, version or format, or tampered with, fails authentication', async () => {
  const vault = createVault(rawKeyProvider('test', randomBytes(32)));
  const sealed = await vault.seal(ref, Buffer.from('hunter2'));
  await vault.open(ref, sealed); // warm the data-key cache: it must not help a moved value
  for (const other of [{ ...ref, name: 'OTHER' }, { ...ref, env: 'staging' }, { ...ref, app: 'web' }, { ...ref, version: 4 }]) {
    await assert.rejects(vault.open(other, sealed), code('ERR_CRYPTO_AUTH'));
  }
  const flipped = Buffer.from(sealed.ciphertext);
  flipped[20]! ^= 1;
  await assert.rejects(vault.open(ref, { ...sealed, ciphertext: flipped }), code('ERR_CRYPTO_AUTH'));
  await assert.rejects(vault.open(ref, { ...sealed, format: 2 }), code('ERR_CRYPTO_FORMAT'));
  await assert.rejects(vault.open(ref, { ...sealed, ciphertext: Buffer.alloc(0), wrappedKey: Buffer.alloc(0) }), code('ERR_CRYPTO_FORMAT'));
  // another row's wrapped key with this row's ciphertext
  const other = await vault.seal({ ...ref, name: 'OTHER' }, Buffer.from('x'));
  await assert.rejects(vault.open(ref, { ...sealed, wrappedKey: other.wrappedKey }), code('ERR_CRYPTO_AUTH'));
});

test('a cached data key is reused only for cacheMs: then the key hierarchy is asked again', async () => {
  const provider = rawKeyProvider('test', randomBytes(32));
  let t = 1000;
  let unwraps = 0;
  const counting = { keyId: provider.keyId, wrap: provider.wrap, unwrap: (w: Buffer, aad: Buffer, id: string) => (unwraps++, provider.unwrap(w, aad, id)) };
  const vault = createVault(counting, { cacheMs: 60_000, now: () => t });
  const sealed = await vault.seal(ref, Buffer.from('hunter2'));
  await vault.open(ref, sealed);
  t += 59_999;
  await vault.open(ref, sealed);
  assert.equal(unwraps, 1);
  t += 1;
  assert.equal((await vault.open(ref, sealed)).toString(), 'hunter2');
  assert.equal(unwraps, 2);
  provider.seal();
  t += 60_000;
  await assert.rejects(vault.open(ref, sealed), code('ERR_KEY_SEALED'), 'an expired entry does not outlive the key');
});

test('the data-key cache serves only the key id and record it unwrapped for, not any row with the same wrapped key', async () => {
  const provider = rawKeyProvider('test', randomBytes(32));
  let unwraps = 0;
  const counting = { keyId: provider.keyId, wrap: provider.wrap, unwrap: (w: Buffer, aad: Buffer, id: string) => (unwraps++, provider.unwrap(w, aad, id)) };
  const vault = createVault(counting);
  const sealed = await vault.seal(ref, Buffer.from('hunter2'));
  assert.equal((await vault.open(ref, sealed)).toString(), 'hunter2');
  assert.equal(unwraps, 1);
  // same wrapped bytes under another key id, or for another record: asked again (and refused)
  await assert.rejects(vault.open(ref, { ...sealed, keyId: 'file:0000000000000000' }), code('ERR_KEY_NOT_FOUND'));
  assert.equal(unwraps, 2);
  for (const other of [{ ...ref, name: 'DB_PASSWORD2' }, { ...ref, app: 'billing2' }, { ...ref, env: 'prod2' }, { ...ref, version: 30 }]) {
    await assert.rejects(vault.open(other, sealed), code('ERR_CRYPTO_AUTH'));
  }
  assert.equal(unwraps, 6);
  // the entry of the real record is still there and still served
  assert.equal((await vault.open(ref, sealed)).toString(), 'hunter2');
  assert.equal(unwraps, 6);
  assert.equal(vault.cacheSize(), 1);
  vault.clear();
  assert.equal((await vault.open(ref, sealed)).toString(), 'hunter2');
  assert.equal(unwraps, 7);
});

test('secretAad writes multi-byte UTF-8 segments with their byte lengths', () => {
  const aad = secretAad({ app: 'é', env: 'p', name: 'ü€', version: 1, format: 1 });
  assert.deepEqual(aad, Buffer.concat([
    Buffer.from('ward/secret/v1'),
    Buffer.from([0, 2]), Buffer.from('é'), Buffer.from([0, 1]), Buffer.from('p'), Buffer.from([0, 5]), Buffer.from('ü€'),
    Buffer.from([0, 0, 0, 1]), Buffer.from([0, 1]),
  ]));
  assert.throws(() => secretAad({ app: 'a'.repeat(0x10000), env: 'p', name: 'n', version: 1, format: 1 }), TypeError);
});
