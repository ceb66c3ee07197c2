/**
 * The SQLite audit appender on its worker thread (src/server/audit-worker.ts): records posted from
 * the main thread land in the store exactly as given, chained, with the seqs each caller was told,
 * in group commits larger than one multi-row INSERT.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { AuditInput } from '../../src/store/types.ts';
import { entryRow, rowEntry, startAuditWorker } from '../../src/server/audit-worker.ts';

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

test('entryRow and rowEntry round-trip an entry, detail absent or present', () => {
  for (const i of [0, 1, 3, 4]) assert.deepEqual(rowEntry(JSON.parse(entryRow(entry(i))) as Parameters<typeof rowEntry>[0]), entry(i));
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
