import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openEnvelope, sealEnvelope, type Envelope, type KeyWrapper } from '../../src/crypto/envelope.ts';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { KeyHierarchy, kekKeyId, memoryKekStorage, parseKekKeyId, type KekScope } from '../../src/keys/hierarchy.ts';

const pay: KekScope = { app: 'payments', env: 'prod' };
const web: KekScope = { app: 'web', env: 'prod' };
const aad = (s: string) => Buffer.from(`record ${s}`);

function setup(options = {}) {
  const master = rawKeyProvider('test', randomBytes(32));
  const storage = memoryKekStorage();
  return { master, storage, h: new KeyHierarchy(master, storage, options) };
}

async function seal(h: KeyHierarchy, scope: KekScope, value: string): Promise<Envelope> {
  return sealEnvelope(await h.forScope(scope), Buffer.from(value), aad(value));
}

/** Opens as the server's vault does: the row's key id alone finds the KEK, no scope needed. */
async function open(h: KeyHierarchy, env: Envelope, value: string): Promise<string> {
  return (await openEnvelope(unwrapper(h), env, aad(value))).toString();
}

function unwrapper(h: KeyHierarchy): KeyWrapper {
  return {
    keyId: h.master.keyId,
    wrap: () => Promise.reject(new Error('not used')),
    unwrap: (wrapped, a, keyId) => h.unwrap(wrapped, a, keyId),
  };
}

test('each scope gets its own KEK, stored only wrapped by the master key; key ids name master, scope and version', async () => {
  const { master, storage, h } = setup();
  const a = await seal(h, pay, 'a');
  const b = await seal(h, web, 'b');
  assert.equal(a.keyId, `${master.keyId}/payments/prod/kek1`);
  assert.equal(b.keyId, kekKeyId(master.keyId, web, 1));
  assert.deepEqual(parseKekKeyId(a.keyId), { masterKeyId: master.keyId, scope: pay, version: 1 });
  assert.equal(parseKekKeyId(master.keyId), undefined);
  assert.equal(storage.records.size, 2);
  for (const r of storage.records.values()) {
    assert.equal(r.masterKeyId, master.keyId);
    assert.equal(r.wrapped.length, 1 + 12 + 32 + 16);
  }
  assert.equal(await open(h, a, 'a'), 'a');
  // a fresh hierarchy over the same storage and master (a restart, another replica) opens it
  const again = new KeyHierarchy(master, storage);
  assert.equal(await open(again, b, 'b'), 'b');
  assert.equal(storage.records.size, 2, 'no KEK is created on read');
});

test('a data key cannot be moved to another record or another scope', async () => {
  const { h } = setup();
  const a = await seal(h, pay, 'a');
  await assert.rejects(openEnvelope(unwrapper(h), a, aad('other')), { code: 'ERR_CRYPTO_AUTH' });
  const b = await seal(h, web, 'a');
  await assert.rejects(openEnvelope(unwrapper(h), { ...a, keyId: b.keyId }, aad('a')), { code: 'ERR_CRYPTO_AUTH' });
  await assert.rejects(openEnvelope(unwrapper(h), { ...a, wrappedKey: b.wrappedKey }, aad('a')), { code: 'ERR_CRYPTO_AUTH' });
  await assert.rejects(openEnvelope(unwrapper(h), { ...a, keyId: 'x/payments/prod/kek1' }, aad('a')), { code: 'ERR_KEY_NOT_FOUND' });
  await assert.rejects(openEnvelope(unwrapper(h), { ...a, keyId: a.keyId.replace('kek1', 'kek7') }, aad('a')), { code: 'ERR_KEY_NOT_FOUND' });
  for (const bad of ['a/b', 'm/p/q/kek0', 'm/p/q/kek1/x', 'm/-p/q/kek1', 'm/p/q/kek99999999999']) {
    await assert.rejects(h.unwrap(a.wrappedKey, aad('a'), bad), { code: 'ERR_CRYPTO_FORMAT' }, bad);
  }
});

test('a KEK record moved to another scope does not unwrap (its associated data names app, env, version)', async () => {
  const { storage, h } = setup();
  await seal(h, pay, 'a');
  const b = await seal(h, web, 'b');
  const payRecord = storage.records.get('payments/prod/1')!;
  storage.records.set('web/prod/1', { ...payRecord, app: 'web' });
  const fresh = new KeyHierarchy(h.master, storage);
  await assert.rejects(open(fresh, b, 'b'), { code: 'ERR_CRYPTO_AUTH' });
});

test('destroying one application\'s KEK makes exactly its data keys unwrappable; new writes get a new version', async () => {
  const { storage, h } = setup();
  const p1 = await seal(h, pay, 'p1');
  await h.rotate(pay);
  const p2 = await seal(h, pay, 'p2');
  const w = await seal(h, web, 'w');
  const staging = await seal(h, { app: 'payments', env: 'staging' }, 's');
  assert.equal(await h.destroy(pay), 2);
  await assert.rejects(open(h, p1, 'p1'), { code: 'ERR_KEY_DESTROYED' });
  await assert.rejects(open(h, p2, 'p2'), { code: 'ERR_KEY_DESTROYED' });
  // also through a hierarchy that had nothing cached (another replica)
  await assert.rejects(open(new KeyHierarchy(h.master, storage), p1, 'p1'), { code: 'ERR_KEY_DESTROYED' });
  assert.equal(await open(h, w, 'w'), 'w');
  assert.equal(await open(h, staging, 's'), 's');
  const p3 = await seal(h, pay, 'p3');
  assert.equal(parseKekKeyId(p3.keyId)?.version, 3, 'versions are never reused');
  assert.equal(await open(h, p3, 'p3'), 'p3');
  assert.equal(await h.destroy(pay), 1);
  assert.equal(await h.destroy({ app: 'nobody', env: 'x' }), 0);
});

test('rotation: a new version for new writes, rewrap moves old data keys, then the old version can go', async () => {
  const { h } = setup();
  const old = await seal(h, pay, 'old');
  const other = await seal(h, web, 'other');
  assert.equal(await h.rotate(pay), 2);
  assert.equal(await h.currentVersion(pay), 2);
  assert.equal(await h.currentVersion(web), 1, 'other scopes are untouched');
  const fresh = await seal(h, pay, 'fresh');
  assert.match(fresh.keyId, /\/kek2$/);
  assert.equal(await open(h, old, 'old'), 'old', 'old versions still open until destroyed');
  const moved = await h.rewrap(old.wrappedKey, aad('old'), old.keyId);
  assert.match(moved.keyId, /\/payments\/prod\/kek2$/);
  assert.notDeepEqual(moved.wrappedKey, old.wrappedKey);
  const same = await h.rewrap(moved.wrappedKey, aad('old'), moved.keyId);
  assert.equal(same.wrappedKey, moved.wrappedKey, 'already current: unchanged');
  await assert.rejects(h.rewrap(old.wrappedKey, aad('tampered'), old.keyId), { code: 'ERR_CRYPTO_AUTH' });
  await h.destroyVersion(pay, 1);
  await assert.rejects(open(h, old, 'old'), { code: 'ERR_KEY_DESTROYED' });
  assert.equal(await open(h, { ...old, ...moved }, 'old'), 'old');
  assert.equal(await open(h, other, 'other'), 'other');
  await assert.rejects(h.rewrap(old.wrappedKey, aad('old'), old.keyId, web), TypeError);
});

test('data keys wrapped by the master directly still open and rewrap into their scope', async () => {
  const { master, h } = setup();
  const legacy = await sealEnvelope(master, Buffer.from('legacy'), aad('legacy'));
  assert.equal(await open(h, legacy, 'legacy'), 'legacy');
  await assert.rejects(h.rewrap(legacy.wrappedKey, aad('legacy'), legacy.keyId), TypeError);
  const moved = await h.rewrap(legacy.wrappedKey, aad('legacy'), legacy.keyId, pay);
  assert.equal(moved.keyId, kekKeyId(master.keyId, pay, 1));
  assert.equal(await open(h, { ...legacy, ...moved }, 'legacy'), 'legacy');
});

test('sealing the master (or the hierarchy) stops every scope at once, cached KEKs included', async () => {
  const path = await import('node:path');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const { createFileKey, openFileKeyProvider } = await import('../../src/keys/file.ts');
  const keyPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ward-h-')), 'm.key');
  createFileKey(keyPath);
  const master = openFileKeyProvider(keyPath);
  const h = new KeyHierarchy(master, memoryKekStorage());
  const a = await seal(h, pay, 'a');
  master.seal();
  await assert.rejects(open(h, a, 'a'), { code: 'ERR_KEY_SEALED' });
  await assert.rejects(h.forScope(pay), { code: 'ERR_KEY_SEALED' });
  await master.unseal();
  assert.equal(await open(h, a, 'a'), 'a');
  h.seal();
  assert.equal(master.sealed, true);
  await assert.rejects(open(h, a, 'a'), { code: 'ERR_KEY_SEALED' });
});

test('KEKs cached beyond cacheMs are read again, so another replica\'s destruction is seen', async () => {
  let now = 1000;
  const { storage, h } = setup({ cacheMs: 50, now: () => now });
  const a = await seal(h, pay, 'a');
  const replica = new KeyHierarchy(h.master, storage);
  await replica.destroy(pay);
  assert.equal(await open(h, a, 'a'), 'a', 'still cached');
  now += 50;
  await assert.rejects(open(h, a, 'a'), { code: 'ERR_KEY_DESTROYED' });
});

test('two writers creating the first KEK of a scope at once agree on one', async () => {
  const { storage, h } = setup();
  const other = new KeyHierarchy(h.master, storage);
  const [x, y] = await Promise.all([seal(h, pay, 'x'), seal(other, pay, 'y')]);
  assert.equal(x.keyId, y.keyId);
  assert.equal(storage.records.size, 1);
  assert.equal(await open(other, x, 'x'), 'x');
  assert.equal(await open(h, y, 'y'), 'y');
});

test('misuse throws TypeError', async () => {
  const { h } = setup();
  await assert.rejects(h.forScope({ app: 'a/b', env: 'x' }), TypeError);
  await assert.rejects(h.forScope({ app: 'a', env: '' }), TypeError);
  await assert.rejects(h.destroyVersion(pay, 0), TypeError);
});

test('master key rotation: a new master starts new KEK versions; the former one opens old data until it is rewrapped', async () => {
  const { master: oldMaster, storage, h: before } = setup();
  const a = await seal(before, pay, 'a');
  const legacy = await sealEnvelope(oldMaster, Buffer.from('legacy'), aad('legacy'));
  const newMaster = rawKeyProvider('test', randomBytes(32));
  const h = new KeyHierarchy(newMaster, storage, { previous: [oldMaster] });
  assert.equal(await open(h, a, 'a'), 'a');
  assert.equal(await open(h, legacy, 'legacy'), 'legacy');
  const b = await seal(h, pay, 'b');
  assert.equal(b.keyId, kekKeyId(newMaster.keyId, pay, 2), 'the first write under the new master makes a new version');
  const moved = await h.rewrap(a.wrappedKey, aad('a'), a.keyId);
  assert.equal(moved.keyId, b.keyId);
  await h.destroyVersion(pay, 1);
  // without the former master: what was moved opens, what was not does not
  const after = new KeyHierarchy(newMaster, storage);
  assert.equal(await open(after, { ...a, ...moved }, 'a'), 'a');
  assert.equal(await open(after, b, 'b'), 'b');
  await assert.rejects(open(after, a, 'a'), { code: 'ERR_KEY_NOT_FOUND' });
  await assert.rejects(open(after, legacy, 'legacy'), { code: 'ERR_KEY_NOT_FOUND' });
  // a key id claiming another master than the one that wrapped its KEK
  await assert.rejects(open(h, { ...b, keyId: kekKeyId(oldMaster.keyId, pay, 2) }, 'b'), { code: 'ERR_KEY_NOT_FOUND' });
  // a sealed former master is reported as sealed
  const c = await seal(before, web, 'c');
  oldMaster.seal();
  await assert.rejects(open(h, c, 'c'), { code: 'ERR_KEY_SEALED' });
});

test('unwrap remembers parsed key ids, never their checks: destruction, malformed ids and unknown masters fail every time', async () => {
  const { h } = setup();
  const a = await seal(h, pay, 'a');
  const b = await seal(h, web, 'b');
  assert.equal(await open(h, a, 'a'), 'a');
  assert.equal(await open(h, a, 'a'), 'a');
  for (let i = 0; i < 2; i++) {
    await assert.rejects(h.unwrap(a.wrappedKey, aad('a'), `${h.master.keyId}/payments/prod/kek0`), { code: 'ERR_CRYPTO_FORMAT' });
    await assert.rejects(h.unwrap(a.wrappedKey, aad('a'), a.keyId.replace(h.master.keyId, 'file:00000000')), { code: 'ERR_KEY_NOT_FOUND' });
    // a KEK version that does not exist
    await assert.rejects(h.unwrap(a.wrappedKey, aad('a'), a.keyId.replace(/kek1$/, 'kek2')), { code: 'ERR_KEY_NOT_FOUND' });
  }
  await h.destroyVersion(pay, 1);
  await assert.rejects(open(h, a, 'a'), { code: 'ERR_KEY_DESTROYED' });
  await assert.rejects(open(h, a, 'a'), { code: 'ERR_KEY_DESTROYED' });
  assert.equal(await open(h, b, 'b'), 'b');
});
