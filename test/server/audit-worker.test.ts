/**
 * The SQLite audit appender on its worker thread (src/server/audit-worker.ts): records posted from
 * the main thread land in the store exactly as given, chained, with the seqs each caller was told,
 * in group commits larger than one multi-row INSERT; and when a busy server holds a commit for
 * more records (group commit policy).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { isWardError } from '../../src/errors.ts';
import { canonicalAuditRecord, readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { AuditInput } from '../../src/store/types.ts';
import { entryRow, rowCanonical, startAuditWorker, type AuditAppender, type AuditWorkerOptions } from '../../src/server/audit-worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-audit-worker-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const entry = (i: number): AuditInput => {
  const e: AuditInput = {
    time: 1_700_000_000_000 + i,
    identity: `spiffe://ward.test/app/a/env/e/${i}`,
    serial: 'ab12',
    source: i % 2 ? '10.0.0.1' : '::1',
    operation: 'env.read',
    // characters JSON escapes, and non-ASCII, survive the trip
    path: i % 3 ? `a/e/N${i}` : `a/e/"q\\${i}\u0001é`,
    outcome: 'granted',
  };
  if (i % 4) e.detail = `revision=${i} secrets=20`;
  return e;
};

test('the worker hashes the canonical text of the chain: rowCanonical of an entryRow, one line per row', () => {
  for (const i of [0, 1, 3, 4]) {
    const row = entryRow(entry(i));
    assert.equal(rowCanonical(1000 + i, row), canonicalAuditRecord(1000 + i, entry(i)));
    assert.ok(!row.includes('\n'));
  }
  // a newline inside a field is escaped in the row text, so rows can travel one per line
  assert.ok(!entryRow({ ...entry(1), path: 'a\nb' }).includes('\n'));
});

test('records appended through the worker are stored as given, chained, with the seqs answered', async () => {
  const path = join(dir, 'ward.db');
  await (await openSqliteStore(path)).close();
  const worker = await startAuditWorker(path);
  // 3 rounds of 45 concurrent callers (one with 3 entries), so batches span several multi-row INSERTs
  const expected: AuditInput[] = [];
  const answered: number[] = [];
  for (let round = 0; round < 3; round++) {
    const calls = Array.from({ length: 45 }, (_, k) => {
      const base = round * 100 + k * 2;
      const entries = k === 7 ? [entry(base), entry(base + 1), entry(base + 50)] : [entry(base)];
      return { entries, done: worker.appendAudit(entries) };
    });
    for (const c of calls) {
      const records = await c.done;
      assert.equal(records.length, c.entries.length);
      answered.push(...records.map((r) => r.seq));
    }
    // seqs follow the order of the calls
    for (const c of calls) expected.push(...c.entries);
  }
  // an entry the chain cannot encode is refused before it reaches the worker
  await assert.rejects(worker.appendAudit([{ ...entry(1), time: 1.5 }]), TypeError);
  await worker.close();

  assert.deepEqual(answered, expected.map((_, i) => i + 1));
  const store = await openSqliteStore(path);
  const records = [];
  for await (const r of readAllAudit(store)) records.push(r);
  assert.equal((await verifyAuditChain(records)).ok, true);
  assert.deepEqual(
    records.map(({ seq: _s, prevHash: _p, hash: _h, ...rest }) => rest),
    expected,
  );
  await store.close();
});

test('an append that fails rejects its callers with ERR_STORE_UNAVAILABLE; the next batch is appended', async () => {
  const path = join(dir, 'failing.db');
  await (await openSqliteStore(path)).close();
  const worker = await startAuditWorker(path);
  assert.deepEqual(await worker.appendAudit([entry(1)]), [{ seq: 1 }]);
  // the table disappears under the worker (renamed by another connection), then comes back
  const other = new DatabaseSync(path);
  other.exec('ALTER TABLE audit RENAME TO audit_away');
  await assert.rejects(worker.appendAudit([entry(2)]), (e: unknown) => isWardError(e) && e.code === 'ERR_STORE_UNAVAILABLE');
  other.exec('ALTER TABLE audit_away RENAME TO audit');
  other.close();
  assert.deepEqual(await worker.appendAudit([entry(3), entry(4)]), [{ seq: 2 }, { seq: 3 }]);
  await worker.close();

  const store = await openSqliteStore(path);
  const records = [];
  for await (const r of readAllAudit(store)) records.push(r);
  assert.equal((await verifyAuditChain(records)).ok, true);
  assert.deepEqual(records.map((r) => r.time), [entry(1).time, entry(3).time, entry(4).time]);
  await store.close();
});

/**
 * A worker on a new database, with `n` open connections of a stand-in API server and the given
 * hold settings; its sockets can be closed by emitting 'close'.
 */
async function workerWithConnections(t: TestContext, name: string, n: number, options: AuditWorkerOptions): Promise<{ worker: AuditAppender; sockets: EventEmitter[]; path: string }> {
  const path = join(dir, `${name}.db`);
  await (await openSqliteStore(path)).close();
  const worker = await startAuditWorker(path, options);
  // a failed assertion must not leave the thread running (the test file would never end)
  t.after(() => worker.close());
  const server = new EventEmitter() as unknown as Server;
  worker.watchConnections(server);
  const sockets = Array.from({ length: n }, () => new EventEmitter());
  for (const s of sockets) server.emit('connection', s);
  return { worker, sockets, path };
}

/** Resolves with true once `p` settles, or false if it is still pending after a few turns and `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

test('group commit: a server at most half busy commits a record at once, however long a hold could last', { timeout: 30_000 }, async (t) => {
  // a held batch would wait an hour: the append below finishes only if nothing holds it
  const { worker } = await workerWithConnections(t, 'idle', 3, { maxHoldMs: 3_600_000, utilization: () => 0.5 });
  assert.deepEqual(await worker.appendAudit([entry(1)]), [{ seq: 1 }]);
  await worker.close();
});

test('group commit: a busy server holds a batch until every connection waits on it', { timeout: 30_000 }, async (t) => {
  const { worker, sockets } = await workerWithConnections(t, 'busy', 3, { maxHoldMs: 3_600_000, utilization: () => 1 });
  const first = worker.appendAudit([entry(1)]);
  const second = worker.appendAudit([entry(2)]);
  // two of three connections wait: the third may still send a request that shares the commit
  assert.equal(await settlesWithin(Promise.race([first, second]), 100), false);
  const third = worker.appendAudit([entry(3)]);
  assert.deepEqual(await Promise.all([first, second, third]), [[{ seq: 1 }], [{ seq: 2 }], [{ seq: 3 }]]);

  // a connection that closes sends nothing more: the batch held for it goes
  const fourth = worker.appendAudit([entry(4)]);
  const fifth = worker.appendAudit([entry(5)]);
  assert.equal(await settlesWithin(Promise.race([fourth, fifth]), 100), false);
  sockets[2]!.emit('close');
  assert.deepEqual(await Promise.all([fourth, fifth]), [[{ seq: 4 }], [{ seq: 5 }]]);
  await worker.close();
});

test('group commit: a held batch goes once its oldest record has waited the hold', { timeout: 30_000 }, async (t) => {
  const { worker, path } = await workerWithConnections(t, 'hold', 10, { maxHoldMs: 30, utilization: () => 1 });
  // one record of ten possible: committed after the hold, not never
  assert.deepEqual(await worker.appendAudit([entry(1)]), [{ seq: 1 }]);
  await worker.close();
  const store = await openSqliteStore(path);
  const records = [];
  for await (const r of readAllAudit(store)) records.push(r);
  assert.equal((await verifyAuditChain(records)).ok, true);
  assert.equal(records.length, 1);
  await store.close();
});
