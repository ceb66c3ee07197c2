import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { WardError } from '../../src/errors.ts';
import { readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/migrations.ts';
import { encodeCursor } from '../../src/store/paging.ts';
import { listSecretsSql, openSqliteStore, SQL } from '../../src/store/sqlite.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import type { ListSecretsQuery, Store } from '../../src/store/types.ts';
import { auditEntry, fakeSeal, put, storeContract } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `t${n++}.db`);

function raw<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { timeout: 5000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

storeContract('sqlite', () => openSqliteStore(freshPath()), {
  rawSql: async (store: Store, sql: string) => {
    raw((store as SqliteStore).path, (db) => db.exec(sql));
  },
  reopen: (store: Store) => openSqliteStore((store as SqliteStore).path),
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof WardError && e.code === code);
}

describe('SqliteStore specifics', () => {
  test('the database and its -wal/-shm files are mode 0600, even when they existed looser', async () => {
    const path = freshPath();
    const s = await openSqliteStore(path);
    await put(s, { app: 'a', env: 'e', name: 'N' });
    for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
    await s.close();

    chmodSync(path, 0o644);
    const again = await openSqliteStore(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await again.close();
  });

  test('WAL journal, schema_migrations records each migration once, migrate twice is a no-op', async () => {
    const path = freshPath();
    const s = await openSqliteStore(path);
    await s.migrate();
    await s.close();
    await (await openSqliteStore(path)).close();
    raw(path, (db) => {
      assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
      const rows = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    });
  });

  test('migrate: false leaves an empty file unmigrated until migrate() is called', async () => {
    const path = freshPath();
    const s = await openSqliteStore(path, { migrate: false });
    assert.equal(s.schemaVersion(), 0);
    await s.migrate();
    assert.equal(s.schemaVersion(), SCHEMA_VERSION);
    await s.close();
  });

  test('a schema newer than this build refuses to open with ERR_STORE_SCHEMA_TOO_NEW', async () => {
    const path = freshPath();
    await (await openSqliteStore(path)).close();
    raw(path, (db) => db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 1));
    await rejectsWith(openSqliteStore(path), 'ERR_STORE_SCHEMA_TOO_NEW');
    await rejectsWith(openSqliteStore(path, { migrate: false }), 'ERR_STORE_SCHEMA_TOO_NEW');
  });

  test('a file that is not a database fails with ERR_STORE_CORRUPT', async () => {
    const path = freshPath();
    writeFileSync(path, Buffer.alloc(8192, 0x5a), { mode: 0o600 });
    await rejectsWith(openSqliteStore(path), 'ERR_STORE_CORRUPT');
  });

  test('a missing directory fails with ERR_STORE_UNAVAILABLE', async () => {
    await rejectsWith(openSqliteStore(join(dir, 'no', 'such', 'dir.db')), 'ERR_STORE_UNAVAILABLE');
  });

  test('getEnv is one index range scan joined on the versions primary key, no sort', async () => {
    const path = freshPath();
    await (await openSqliteStore(path)).close();
    const plan = raw(path, (db) => db.prepare(`EXPLAIN QUERY PLAN ${SQL.getEnv}`).all('a', 'e').map((r) => String(r.detail)));
    assert.ok(plan.some((d) => /^SEARCH s USING PRIMARY KEY \(app=\? AND env=\?\)/.test(d)), plan.join('\n'));
    assert.ok(plan.some((d) => /^SEARCH v USING PRIMARY KEY \(app=\? AND env=\? AND name=\? AND version=\?\)/.test(d)), plan.join('\n'));
    assert.ok(!plan.some((d) => /SCAN|TEMP B-TREE/.test(d)), plan.join('\n'));
  });

  test('every page of a listing is one primary-key range scan', async () => {
    const path = freshPath();
    await (await openSqliteStore(path)).close();
    const cursor = encodeCursor({ app: 'a', env: 'e', name: 'n' });
    const plan = (query: ListSecretsQuery) => raw(path, (db) => {
      const q = listSecretsSql(query, 10);
      assert.ok(q !== null);
      return db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params).map((r) => String(r.detail)).join('\n');
    });
    assert.equal(plan({ cursor }), 'SEARCH secrets USING PRIMARY KEY ((app,env,name)>(?,?,?))');
    assert.equal(plan({ app: 'a', cursor }), 'SEARCH secrets USING PRIMARY KEY (app=? AND (env,name)>(?,?))');
    assert.equal(plan({ app: 'a', env: 'e', cursor }), 'SEARCH secrets USING PRIMARY KEY (app=? AND env=? AND name>?)');
    assert.equal(plan({ app: 'a', env: 'e' }), 'SEARCH secrets USING PRIMARY KEY (app=? AND env=?)');
    assert.equal(listSecretsSql({ app: 'a', cursor: encodeCursor({ app: 'b', env: 'e', name: 'n' }) }, 10), null);
  });

  test('every page of the certificate listing walks the (issued_at, serial) index, no sort', async () => {
    const path = freshPath();
    await (await openSqliteStore(path)).close();
    const plan = (sql: string, ...params: (string | number)[]) =>
      raw(path, (db) => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((r) => String(r.detail)).join('\n'));
    assert.equal(plan(SQL.listCertificates, 10), 'SCAN certificates USING INDEX certificates_issued');
    assert.equal(plan(SQL.listCertificatesAfter, 1, '0a', 10), 'SEARCH certificates USING INDEX certificates_issued ((issued_at,serial)>(?,?))');
  });

  test('destroy leaves no copy of the sealed bytes in the database file or its WAL', async () => {
    const path = freshPath();
    const s = await openSqliteStore(path);
    const marker = Buffer.from('MARKER-0123456789-'.repeat(50));
    const ref = { app: 'a', env: 'e', name: 'BURN' };
    for (let i = 0; i < 3; i++) await s.putSecret(ref, () => ({ ciphertext: marker, wrappedKey: marker, keyId: 'k', format: 1, kind: 'env', sealed: false, createdBy: 'x' }));
    await put(s, { app: 'a', env: 'e', name: 'KEEP' });
    const onDisk = () => [path, `${path}-wal`].filter(existsSync).some((f) => readFileSync(f).includes('MARKER-0123456789'));
    assert.equal(onDisk(), true);
    assert.equal(await s.destroy(ref), 3);
    assert.equal(onDisk(), false);
    assert.notEqual(await s.getSecret({ app: 'a', env: 'e', name: 'KEEP' }), null);
    await s.close();
    raw(path, (db) => assert.equal(db.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok'));
  });

  test('one writer at a time: while a write awaits seal, reads see the old state and other writes wait their turn', async () => {
    const s = await openSqliteStore(freshPath());
    const ref = (name: string) => ({ app: 'app', env: 'prod', name });
    await put(s, ref('OLD'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = s.putSecret(ref('SLOW'), async (v) => {
      await gate;
      return fakeSeal(ref('SLOW'), v);
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await s.getSecret(ref('SLOW')), null);
    assert.deepEqual((await s.getEnv('app', 'prod')).map((v) => v.name), ['OLD']);
    assert.equal(await s.envRevision('app', 'prod'), 1);
    const order: string[] = [];
    const audit = s.appendAudit([auditEntry(1)]).then(() => order.push('audit'));
    const other = put(s, ref('OLD')).then(() => order.push('other'));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(order.length, 0, 'writes wait for the open transaction');
    release();
    await Promise.all([slow.then(() => order.push('slow')), audit, other]);
    assert.equal(order[0], 'slow');
    assert.equal((await s.getSecret(ref('SLOW')))?.version, 1);
    assert.equal(await s.envRevision('app', 'prod'), 3);
    await s.close();
  });

  test('two stores on one file (two processes\' worth) keep one audit chain', async () => {
    const path = freshPath();
    const a = await openSqliteStore(path);
    const b = await openSqliteStore(path);
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).appendAudit([auditEntry(i)])));
    const v = await verifyAuditChain(readAllAudit(a));
    assert.deepEqual([v.ok, v.count], [true, 50]);
    await a.close();
    await b.close();
  });

  test('a seal that never returns times out, writes nothing, and frees the store', async () => {
    const s = await openSqliteStore(freshPath(), { sealTimeoutMs: 50 });
    const ref = { app: 'a', env: 'e', name: 'HUNG' };
    await rejectsWith(s.putSecret(ref, () => new Promise(() => {})), 'ERR_STORE_UNAVAILABLE');
    assert.equal(await s.getSecretMeta(ref), null);
    assert.equal((await put(s, ref)).version, 1);
    assert.equal((await s.appendAudit([auditEntry(1)]))[0]?.seq, 1);
    await s.close();
  });

  test('migrations are listed in ascending order of unique versions', () => {
    // each version is applied by its own schema_migrations row, so two made side by side may land
    // out of order (3 before 2) and a database migrated in between still gets the other
    const versions = MIGRATIONS.map((m) => m.version);
    assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b));
    assert.equal(versions[0], 1);
    assert.equal(SCHEMA_VERSION, Math.max(...versions));
  });

  test('appends made in the same turn share one commit', async () => {
    const s = await openSqliteStore(freshPath());
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.appendAudit([auditEntry(i)])));
    assert.deepEqual(s.stats, { auditCommits: 1, auditRecords: 200 });
    await s.appendAudit([auditEntry(200)]);
    assert.deepEqual(s.stats, { auditCommits: 2, auditRecords: 201 });
    await s.close();
  });

  test('crash safety: every write acknowledged before kill -9 is there after reopening', async () => {
    const path = freshPath();
    const child = spawn(process.execPath, [new URL('./fixtures/crash-writer.ts', import.meta.url).pathname, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let partial = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts);
        if (lines.length >= 600 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
    });
    assert.equal(child.signalCode, 'SIGKILL', 'the writer was killed mid-burst, not finished');
    assert.equal(lines[0], 'ready');
    const acks = lines.slice(1);
    assert.ok(acks.length >= 599);

    raw(path, (db) => assert.equal(db.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok'));
    const s = await openSqliteStore(path);
    try {
      let secrets = 0;
      let audits = 0;
      for (const line of acks) {
        const [type, a, b] = line.split(' ') as [string, string, string];
        if (type === 'S') {
          const v = await s.getSecret({ app: 'crash', env: 'prod', name: a }, Number(b));
          assert.equal(v?.ciphertext.toString(), `${a}#${b}`, line);
          secrets++;
        } else {
          assert.equal(type, 'A');
          assert.equal((await s.readAudit(Number(a) - 1, 1))[0]?.hash, b, line);
          audits++;
        }
      }
      assert.ok(secrets > 0 && audits > 0);
      const v = await verifyAuditChain(readAllAudit(s));
      assert.equal(v.ok, true, v.reason);
      assert.ok(v.count >= audits);
    } finally {
      await s.close();
    }
  });
});
