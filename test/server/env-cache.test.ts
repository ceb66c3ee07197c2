/**
 * The decrypted APP/ENV batch cache (src/server/env-cache.ts): a hit is answered synchronously, an
 * entry lives ttlMs, concurrent loads of one env share one load, and an invalidation made while a
 * load is in flight, or a clear(), keeps that (possibly stale) load out of the cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEnvCache, type EnvBatch } from '../../src/server/env-cache.ts';

function loader(revision: { n: number }) {
  let calls = 0;
  const load = async () => {
    calls++;
    return { app: 'a', env: 'e', revision: revision.n, secrets: [{ name: 'K', version: revision.n, kind: 'env' as const, sealed: false, value: 'dg==' }] };
  };
  return { load, calls: () => calls };
}

test('a hit is the cached batch itself, not a promise, until ttlMs has passed', async () => {
  let clock = 1000;
  const cache = createEnvCache({ ttlMs: 2000, now: () => clock });
  const revision = { n: 1 };
  const { load, calls } = loader(revision);
  const first = await cache.get('a', 'e', load);
  assert.equal(first.json, JSON.stringify({ app: 'a', env: 'e', revision: 1, secrets: first.secrets }));
  const hit = cache.get('a', 'e', load);
  assert.ok(!(hit instanceof Promise));
  assert.equal(hit, first);
  assert.equal(calls(), 1);
  clock += 2000;
  revision.n = 2;
  const reloaded = await cache.get('a', 'e', load);
  assert.equal(reloaded.revision, 2);
  assert.equal(calls(), 2);
  assert.equal(cache.size(), 1);
});

test('concurrent misses share one load; an invalidation during a load keeps it out of the cache', async () => {
  const cache = createEnvCache({ ttlMs: 2000 });
  const revision = { n: 1 };
  const { load, calls } = loader(revision);
  const [x, y] = await Promise.all([cache.get('a', 'e', load), cache.get('a', 'e', load)]);
  assert.equal(x, y);
  assert.equal(calls(), 1);

  cache.invalidate('a', 'e');
  const inFlight = cache.get('a', 'e', load);
  // a write lands while the load runs: its result must not be cached
  cache.invalidate('a', 'e');
  revision.n = 2;
  assert.equal(((await inFlight) as EnvBatch).revision, 1);
  assert.equal(cache.size(), 0);
  assert.equal((await cache.get('a', 'e', load)).revision, 2);
});

test('clear() during a load (a seal) keeps that load out of the cache', async () => {
  const cache = createEnvCache({ ttlMs: 2000 });
  const { load, calls } = loader({ n: 1 });
  const inFlight = cache.get('a', 'e', load);
  cache.clear();
  await inFlight;
  assert.equal(cache.size(), 0);
  await cache.get('a', 'e', load);
  assert.equal(calls(), 2, 'the next read loads again');
});

test('ttlMs 0 loads every time', async () => {
  const cache = createEnvCache({ ttlMs: 0 });
  const { load, calls } = loader({ n: 1 });
  await cache.get('a', 'e', load);
  await cache.get('a', 'e', load);
  assert.equal(calls(), 2);
  assert.equal(cache.size(), 0);
});
