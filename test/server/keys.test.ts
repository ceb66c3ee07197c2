/**
 * The key routes over real mTLS (src/server/routes/keys.ts): rotation under concurrent reads,
 * crypto-shredding one APP/ENV, seal dropping every cache, data keys wrapped by the master key
 * directly (before KEKs), and the unseal route's bounds, rate limit and audit.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileKey, openFileKeyProvider, rawKeyProvider } from '../../src/keys/file.ts';
import { initPassphrase, openPassphraseKeyProvider, writeSealedKey } from '../../src/keys/sealed.ts';
import { createVault } from '../../src/server/vault.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { b64, client, makePki, startTestServer, type Client, type Pki, type TestServer } from './helpers.ts';

let pki: Pki;
const dir = mkdtempSync(join(tmpdir(), 'ward-keys-test-'));
before(async () => {
  pki = await makePki();
});
after(() => rmSync(dir, { recursive: true, force: true }));

const value = (r: { body: { value: string } }) => Buffer.from(r.body.value, 'base64').toString();

async function withServer(fn: (s: TestServer, admin: Client) => Promise<void>, options: Parameters<typeof startTestServer>[1] = {}): Promise<void> {
  const s = await startTestServer(pki, options);
  const admin = client(s, pki.admin);
  try {
    await fn(s, admin);
  } finally {
    admin.close();
    await s.close();
  }
}

async function put(admin: Client, path: string, v: string): Promise<void> {
  const r = await admin.call('PUT', `/v1/secrets/${path}`, { value: b64(v) });
  assert.equal(r.status, 200, r.text);
}

test('rotation under concurrent reads: no read fails, every secret decrypts afterwards, the old version is destroyed', async () => {
  await withServer(async (s, admin) => {
    const names = Array.from({ length: 30 }, (_, i) => `K${String(i).padStart(2, '0')}`);
    for (const n of names) await put(admin, `shop/prod/${n}`, `v-${n}`);
    await put(admin, 'shop/prod/K00', 'v-K00-2'); // two versions of one secret
    const before = (await admin.call('GET', '/v1/keys')).body.scopes;
    assert.deepEqual(before.map((x: { app: string; versions: unknown[] }) => [x.app, x.versions.length]), [['shop', 1]]);
    assert.equal(before[0].versions[0].dataKeys, 31);

    let stop = false;
    let reads = 0;
    const failures: string[] = [];
    const reader = async (i: number) => {
      while (!stop) {
        const n = names[(reads + i) % names.length]!;
        const one = await admin.call('GET', `/v1/secrets/shop/prod/${n}`);
        const batch = await admin.call('GET', '/v1/env/shop/prod');
        const old = await admin.call('GET', '/v1/secrets/shop/prod/K00?version=1');
        reads += 3;
        if (one.status !== 200 || !value(one).startsWith(`v-${n}`)) failures.push(`${n}: ${one.text}`);
        if (batch.status !== 200 || batch.body.secrets.length !== names.length) failures.push(`batch: ${batch.text.slice(0, 200)}`);
        if (old.status !== 200 || value(old) !== 'v-K00') failures.push(`K00 v1: ${old.text}`);
      }
    };
    const readers = [0, 1, 2, 3].map(reader);
    const rotated = await admin.call('POST', '/v1/keys/shop/prod/rotate', {});
    assert.deepEqual(rotated.body, { version: 2 });
    const answers = [];
    for (;;) {
      const r = await admin.call('POST', '/v1/keys/shop/prod/rewrap', { limit: 4 });
      assert.equal(r.status, 200, r.text);
      answers.push(r.body);
      if (r.body.remaining === 0) break;
      await new Promise((res) => setTimeout(res, 5)); // let reads interleave
    }
    stop = true;
    await Promise.all(readers);
    assert.deepEqual(failures, []);
    assert.ok(reads > 30, `reads went on during the rotation (${reads})`);
    assert.ok(answers.length >= 8, 'in batches of 4');
    assert.equal(answers.reduce((n, a) => n + a.rewrapped, 0), 31);
    assert.deepEqual(answers.at(-1), { version: 2, rewrapped: answers.at(-1).rewrapped, remaining: 0, unreadable: 0, destroyed: [1], kept: [] });

    assert.equal((await s.store.getKek('shop', 'prod', 1))?.wrapped.length, 0, 'old version destroyed');
    const usage = await s.store.keyUsage({ app: 'shop', env: 'prod' });
    assert.deepEqual(usage.map((u) => [u.keyId.replace(/^[^/]+\//, ''), u.count]), [['shop/prod/kek2', 31]]);
    s.app.ward.vault.clear(); // no cached data key helps: everything opens under kek2
    s.app.ward.envCache.clear();
    for (const n of names) assert.ok(value(await admin.call('GET', `/v1/secrets/shop/prod/${n}`)).startsWith(`v-${n}`));
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/K00?version=1')), 'v-K00');
    const listed = (await admin.call('GET', '/v1/keys')).body.scopes[0].versions;
    assert.deepEqual(listed.map((v: { version: number; destroyed: boolean; dataKeys: number }) => [v.version, v.destroyed, v.dataKeys]), [[1, true, 0], [2, false, 31]]);
    const audit = (await admin.call('GET', '/v1/audit?limit=1000')).body.records.map((r: { operation: string }) => r.operation);
    assert.ok(audit.includes('key.rotate') && audit.includes('key.rewrap'));
  }, { envCacheTtlMs: 0 });
});

test('destroying one APP/ENV\'s keys makes exactly its secrets unreadable', async () => {
  await withServer(async (s, admin) => {
    for (const path of ['shop/prod/A', 'shop/prod/B', 'shop/dev/A', 'web/prod/A']) await put(admin, path, `v-${path}`);
    await admin.call('GET', '/v1/env/shop/prod'); // warm the caches: they must not keep serving
    const refused = await admin.call('POST', '/v1/keys/shop/prod/destroy', { confirm: 'shop/dev' });
    assert.equal(refused.status, 400);
    const r = await admin.call('POST', '/v1/keys/shop/prod/destroy', { confirm: 'shop/prod' });
    assert.deepEqual(r.body, { destroyed: 1, dataKeys: 2 });
    for (const path of ['shop/prod/A', 'shop/prod/B']) {
      const gone = await admin.call('GET', `/v1/secrets/${path}`);
      assert.equal(gone.status, 404, gone.text);
      assert.equal(gone.body.error.code, 'ERR_KEY_DESTROYED');
    }
    assert.equal((await admin.call('GET', '/v1/env/shop/prod')).body.error.code, 'ERR_KEY_DESTROYED');
    for (const path of ['shop/dev/A', 'web/prod/A']) assert.equal(value(await admin.call('GET', `/v1/secrets/${path}`)), `v-${path}`);
    // the scope starts a new key for new writes; rotation leaves the shredded keys alone
    await put(admin, 'shop/prod/C', 'new');
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/C')), 'new');
    const rw = await admin.call('POST', '/v1/keys/shop/prod/rewrap', {});
    assert.deepEqual([rw.body.remaining, rw.body.unreadable], [0, 2]);
    assert.ok(((await s.store.latestKek('shop', 'prod'))?.version ?? 0) >= 2);
  });
});

test('seal drops the master key, KEKs, data keys and cached batches at once; unseal restores service', async () => {
  const keyFile = join(dir, 'master.key');
  createFileKey(keyFile);
  await withServer(async (s, admin) => {
    await put(admin, 'shop/prod/A', 'alpha');
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/A')), 'alpha');
    assert.equal((await admin.call('GET', '/v1/env/shop/prod')).status, 200);
    const ctx = s.app.ward;
    assert.ok(ctx.vault.cacheSize() > 0 && ctx.envCache.size() > 0);

    const workload = client(s, await pki.workload('shop', 'prod'));
    assert.equal((await workload.call('POST', '/v1/sys/seal', {})).status, 403, 'admin only');
    const sealed = await admin.call('POST', '/v1/sys/seal', {});
    assert.deepEqual(sealed.body, { sealed: true, provider: 'file', have: 0, need: 1 });
    assert.equal(ctx.vault.cacheSize(), 0);
    assert.equal(ctx.envCache.size(), 0);
    assert.equal(ctx.keys.sealed, true);
    await assert.rejects(ctx.hierarchy.currentVersion({ app: 'shop', env: 'prod' }), (e: Error & { code?: string }) => e.code === 'ERR_KEY_SEALED');
    for (const path of ['/v1/secrets/shop/prod/A', '/v1/env/shop/prod']) {
      const r = await workload.call('GET', path);
      assert.deepEqual([r.status, r.body.error.code], [503, 'ERR_KEY_SEALED']);
    }
    assert.equal((await workload.call('GET', '/v1/sys/status')).body.sealed, true, 'status is open to any caller');
    assert.equal((await workload.call('POST', '/v1/sys/unseal', { secret: b64('x') })).status, 403, 'unseal is admin only');
    // `file` reloads its file on unseal
    assert.equal((await admin.call('POST', '/v1/sys/unseal', { secret: b64('-') })).status, 400, 'file takes no secret');
    const un = await admin.call('POST', '/v1/sys/unseal', {});
    assert.deepEqual(un.body, { sealed: false, provider: 'file', have: 1, need: 1 });
    assert.equal(value(await workload.call('GET', '/v1/secrets/shop/prod/A')), 'alpha');
    workload.close();
  }, { keys: openFileKeyProvider(keyFile) });
});

test('data keys wrapped by the master key directly (before KEKs) still open and move under the KEK on rotation', async () => {
  const master = rawKeyProvider('test', randomBytes(32));
  await withServer(async (s, admin) => {
    const legacy = createVault(master);
    await s.store.putSecret({ app: 'shop', env: 'prod', name: 'OLD' }, async (version) => ({
      ...(await legacy.seal({ app: 'shop', env: 'prod', name: 'OLD', version }, Buffer.from('from-before'))),
      kind: 'env', sealed: false, createdBy: 'test',
    }));
    assert.equal((await s.store.getSecret({ app: 'shop', env: 'prod', name: 'OLD' }))?.keyId, master.keyId);
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/OLD')), 'from-before');
    assert.equal((await admin.call('GET', '/v1/keys')).body.scopes[0].masterWrapped, 1);
    await admin.call('POST', '/v1/keys/shop/prod/rotate', {});
    const r = await admin.call('POST', '/v1/keys/shop/prod/rewrap', {});
    assert.deepEqual([r.body.rewrapped, r.body.remaining], [1, 0]);
    assert.equal((await s.store.getSecret({ app: 'shop', env: 'prod', name: 'OLD' }))?.keyId, `${master.keyId}/shop/prod/kek1`);
    s.app.ward.vault.clear();
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/OLD')), 'from-before');
  }, { keys: master });
});

test('unseal: bounded body, rate-limited, a wrong passphrase keeps it sealed, audited without the secret', async () => {
  const path = join(dir, 'master.sealed');
  writeSealedKey(path, (await initPassphrase({ passphrase: Buffer.from('open sesame'), scryptLogN: 10 })).sealedKey);
  await withServer(async (s, admin) => {
    assert.equal((await admin.call('GET', '/v1/whoami')).status, 503);
    const huge = await admin.call('POST', '/v1/sys/unseal', { secret: 'A'.repeat(5000) });
    assert.ok(huge.status === 413 || huge.status === 400, huge.text);
    assert.equal((await admin.call('POST', '/v1/sys/unseal', { secret: b64('x'), extra: 1 })).status, 400);
    assert.equal((await admin.call('POST', '/v1/sys/unseal', {})).status, 400, 'a passphrase server needs the secret');
    const wrong = await admin.call('POST', '/v1/sys/unseal', { secret: b64('open sesame!') });
    assert.deepEqual([wrong.status, wrong.body.error.code], [400, 'ERR_KEY_WRONG_PASSPHRASE']);
    assert.equal((await admin.call('GET', '/v1/sys/status')).body.sealed, true);
    const ok = await admin.call('POST', '/v1/sys/unseal', { secret: b64('open sesame') });
    assert.deepEqual(ok.body, { sealed: false, provider: 'passphrase', have: 1, need: 1 });
    assert.equal((await admin.call('GET', '/v1/whoami')).status, 200);
    let limited = 0;
    for (let i = 0; i < 25; i++) if ((await admin.call('POST', '/v1/sys/unseal', { secret: b64('open sesame') })).status === 429) limited++;
    assert.ok(limited > 0, 'unseal attempts are rate-limited');
    const records = (await admin.call('GET', '/v1/audit?limit=1000')).text;
    assert.match(records, /sys\.unseal/);
    assert.doesNotMatch(records, /sesame|b3BlbiBzZXNhbWU/);
    void s;
  }, { keys: openPassphraseKeyProvider(path) });
});

test('master key rotation: with the former key in [keys] previous, ward key rotate moves every KEK and the server identity under the new key; the former key can then go', async () => {
  const oldFile = join(dir, 'old-master.key');
  const newFile = join(dir, 'new-master.key');
  createFileKey(oldFile);
  createFileKey(newFile);
  const dbPath = join(dir, 'rotation.db');
  // s.store is the helper's own (unused) store: the servers share this one
  const serve = async (keys: string, previous: string[], fn: (s: TestServer, admin: Client, store: SqliteStore) => Promise<void>) => {
    const store = await openSqliteStore(dbPath);
    try {
      await withServer((s, admin) => fn(s, admin, store), { store, keys: openFileKeyProvider(keys), previousKeys: previous.map((p) => openFileKeyProvider(p)) });
    } finally {
      await store.close();
    }
  };
  let recipient = '';
  await serve(oldFile, [], async (s, admin) => {
    await put(admin, 'shop/prod/A', 'alpha');
    await put(admin, 'web/prod/B', 'beta');
    recipient = await s.app.ward.serverIdentity.recipient();
  });
  await serve(newFile, [], async (_s, admin) => {
    assert.notEqual((await admin.call('GET', '/v1/secrets/shop/prod/A')).status, 200, 'the new key alone opens nothing yet');
  });
  await serve(newFile, [oldFile], async (s, admin, store) => {
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/A')), 'alpha', 'the former key still opens');
    // sealing drops the former key too; unsealing reopens it
    await admin.call('POST', '/v1/sys/seal', {});
    assert.equal((await admin.call('POST', '/v1/sys/unseal', {})).body.sealed, false);
    for (const scope of ['shop/prod', 'web/prod']) {
      await admin.call('POST', `/v1/keys/${scope}/rotate`, {});
      const r = await admin.call('POST', `/v1/keys/${scope}/rewrap`, {});
      assert.equal(r.body.remaining, 0, r.text);
    }
    const masters = (await admin.call('GET', '/v1/keys')).body.scopes.flatMap((x: { versions: { masterKeyId: string; destroyed: boolean }[] }) => x.versions.filter((v) => !v.destroyed).map((v) => v.masterKeyId));
    assert.deepEqual([...new Set(masters)], [s.app.ward.keys.keyId], 'every live KEK is under the new master');
    assert.equal((await store.getServerKey('age-identity'))?.keyId, s.app.ward.keys.keyId, 'the unseal moved the server identity');
  });
  await serve(newFile, [], async (s, admin, store) => {
    assert.equal(value(await admin.call('GET', '/v1/secrets/shop/prod/A')), 'alpha');
    assert.equal(value(await admin.call('GET', '/v1/secrets/web/prod/B')), 'beta');
    assert.equal((await store.getServerKey('age-identity'))?.keyId, s.app.ward.keys.keyId);
    assert.equal(await s.app.ward.serverIdentity.recipient(), recipient, 'the same identity, under the new key');
    await s.app.ward.serverIdentity.identity();
  });
});
