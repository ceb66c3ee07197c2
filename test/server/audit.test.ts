/**
 * The auditor (src/server/audit.ts) over the real sinks: the SQLite store itself (appendAudit) and
 * the worker-thread appender (appendOne). A record resolves only once committed; a failed append
 * fails the caller with ERR_API_UNAVAILABLE; close waits for what is pending.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { isWardError } from '../../src/errors.ts';
import { readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { AuditInput } from '../../src/store/types.ts';
import { AUDIT_READ, createAuditor, type AuditSink } from '../../src/server/audit.ts';
import { startAuditWorker } from '../../src/server/audit-worker.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-auditor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const entry = (i: number, operation = 'env.read'): AuditInput => ({
  time: 1_700_000_000_000 + i,
  identity: `spiffe://ward.test/app/a/env/e/${i}`,
  serial: 'ab12',
  source: '127.0.0.1',
  operation,
  path: 'a/e/*',
  outcome: 'granted',
});

async function stored(path: string) {
  const store = await openSqliteStore(path);
  const records = [];
  for await (const r of readAllAudit(store)) records.push(r);
  await store.close();
  return records;
}

for (const kind of ['store', 'worker'] as const) {
  test(`${kind}: records resolve once committed, in order, chained; close waits for pending ones and refuses later ones`, async () => {
    const path = join(dir, `${kind}.db`);
    const store = await openSqliteStore(path);
    const worker = kind === 'worker' ? await startAuditWorker(path) : null;
    const sink: AuditSink = worker ?? store;
    const errors: unknown[] = [];
    const auditor = createAuditor(sink, { onError: (e) => errors.push(e) });

    const first = Array.from({ length: 30 }, (_, i) => auditor.record(entry(i)));
    assert.equal(auditor.depth(), 30);
    await Promise.all(first);
    assert.equal(auditor.depth(), 0);
    // committed before it resolved: a new connection sees it
    assert.equal((await stored(path)).length, 30);

    const last = Array.from({ length: 10 }, (_, i) => auditor.record(entry(30 + i)));
    const closing = auditor.close();
    await assert.rejects(auditor.record(entry(99)), (e: unknown) => isWardError(e) && e.code === 'ERR_API_UNAVAILABLE');
    await closing;
    // every record accepted before close was committed by the time close resolved
    assert.equal(auditor.depth(), 0);
    await Promise.all(last);
    await worker?.close();
    await store.close();

    const records = await stored(path);
    assert.deepEqual(records.map((r) => r.time), Array.from({ length: 40 }, (_, i) => entry(i).time));
    assert.equal((await verifyAuditChain(records)).ok, true);
    assert.deepEqual(errors, []);
  });

  test(`${kind}: a failed append rejects the record with ERR_API_UNAVAILABLE and reports the cause`, async () => {
    const path = join(dir, `${kind}-failing.db`);
    const store = await openSqliteStore(path);
    const worker = kind === 'worker' ? await startAuditWorker(path) : null;
    const errors: unknown[] = [];
    const auditor = createAuditor(worker ?? store, { onError: (e) => errors.push(e) });
    await auditor.record(entry(1));
    const other = new DatabaseSync(path);
    other.exec('ALTER TABLE audit RENAME TO audit_away');
    await assert.rejects(auditor.record(entry(2)), (e: unknown) => isWardError(e) && e.code === 'ERR_API_UNAVAILABLE');
    assert.equal(errors.length, 1);
    other.exec('ALTER TABLE audit_away RENAME TO audit');
    other.close();
    await auditor.record(entry(3));
    // an entry the chain cannot encode fails the same way (the request fails closed)
    await assert.rejects(auditor.record({ ...entry(4), time: Number.NaN }), (e: unknown) => isWardError(e) && e.code === 'ERR_API_UNAVAILABLE');
    assert.equal(auditor.depth(), 0);
    await auditor.close();
    await worker?.close();
    await store.close();
    assert.deepEqual((await stored(path)).map((r) => r.time), [entry(1).time, entry(3).time]);
  });
}

test('waitForNewer wakes on a newer record, not on reads of the audit log itself', async () => {
  const path = join(dir, 'wait.db');
  const store = await openSqliteStore(path);
  const worker = await startAuditWorker(path);
  const auditor = createAuditor(worker);
  let woke = false;
  const waiting = auditor.waitForNewer(0, 10_000).then(() => (woke = true));
  await auditor.record(entry(1, AUDIT_READ));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(woke, false);
  await auditor.record(entry(2));
  await waiting;
  assert.equal(woke, true);
  // already newer: returns at once
  await auditor.waitForNewer(1, 10_000);
  await auditor.close();
  await worker.close();
  await store.close();
});
