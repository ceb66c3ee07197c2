import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  auditRecordHash,
  canonicalAuditRecord,
  chainAuditRecords,
  GENESIS_HASH,
  verifyAuditChain,
} from '../../src/store/audit-chain.ts';
import type { AuditInput, AuditRecord } from '../../src/store/types.ts';

// The vectors in docs/formats.md, "Audit log chain" (cross-checked with Python's json + hashlib).
const e1: AuditInput = {
  time: 1700000000000, identity: 'spiffe://example.org/app/web/env/prod/web-1', serial: '3f9a', source: '10.0.0.7',
  operation: 'secret.read', path: 'web/prod/DB_PASSWORD', outcome: 'granted',
};
const e2: AuditInput = {
  time: 1700000000250, identity: '-', serial: '-', source: '192.0.2.1', operation: 'secret.read', path: 'web/prod/API_KEY',
  outcome: 'denied', detail: 'rule "deny-ops"\n',
};
const H1 = '3dbea92acec9035627aa5aaf5184485d5fa2b550e03c0bd6359bfa023f23a597';
const H2 = '6fd8b59d025864216bec4ca5d13a56c60cb3e3b302bd31f9ef35cbac3c20e713';

test('canonical encoding and hashes match the documented vectors', () => {
  assert.equal(
    canonicalAuditRecord(1, e1),
    '[1,1700000000000,"spiffe://example.org/app/web/env/prod/web-1","3f9a","10.0.0.7","secret.read","web/prod/DB_PASSWORD","granted",null]',
  );
  assert.equal(canonicalAuditRecord(2, e2), '[2,1700000000250,"-","-","192.0.2.1","secret.read","web/prod/API_KEY","denied","rule \\"deny-ops\\"\\n"]');
  assert.equal(auditRecordHash(GENESIS_HASH, 1, e1), H1);
  assert.equal(auditRecordHash(H1, 2, e2), H2);
  const chained = chainAuditRecords({ seq: 0, hash: GENESIS_HASH }, [e1, e2]);
  assert.deepEqual(chained.map((r) => [r.seq, r.prevHash, r.hash]), [[1, GENESIS_HASH, H1], [2, H1, H2]]);
});

test('the encoding is injective across field boundaries', () => {
  const a = canonicalAuditRecord(1, { ...e1, identity: 'a","b', serial: 'c' });
  const b = canonicalAuditRecord(1, { ...e1, identity: 'a', serial: 'b","c' });
  assert.notEqual(a, b);
  assert.notEqual(canonicalAuditRecord(1, { ...e1, detail: 'null' }), canonicalAuditRecord(1, e1));
});

const chain = (n: number): AuditRecord[] =>
  chainAuditRecords({ seq: 0, hash: GENESIS_HASH }, Array.from({ length: n }, (_, i) => ({ ...e1, time: e1.time + i })));

test('verify accepts a good chain, from the genesis or from an anchor, sync or async', async () => {
  const records = chain(5);
  assert.deepEqual(await verifyAuditChain(records), { ok: true, count: 5, last: { seq: 5, hash: records[4]?.hash } });
  assert.deepEqual(await verifyAuditChain([]), { ok: true, count: 0, last: { seq: 0, hash: GENESIS_HASH } });
  const anchor = { seq: 2, hash: records[1]?.hash ?? '' };
  assert.equal((await verifyAuditChain(records.slice(2), anchor)).count, 3);
  async function* gen() {
    yield* records;
  }
  assert.equal((await verifyAuditChain(gen())).ok, true);
});

test('verify pinpoints edits, gaps, reordering, broken links and wrong anchors', async () => {
  const r = chain(6);
  const check = async (records: AuditRecord[], firstBad: number, reason: string, from?: { seq: number; hash: string }) => {
    const v = await verifyAuditChain(records, from);
    assert.deepEqual([v.ok, v.firstBad, v.reason], [false, firstBad, reason]);
  };
  await check(r.map((x) => (x.seq === 3 ? { ...x, outcome: 'denied' } : x)), 3, 'hash mismatch');
  await check(r.map((x) => (x.seq === 3 ? { ...x, detail: 'added' } : x)), 3, 'hash mismatch');
  await check(r.filter((x) => x.seq !== 4), 4, 'seq gap');
  await check(r.slice(1), 1, 'seq gap');
  await check([r[0], r[2], r[1]] as AuditRecord[], 2, 'seq gap');
  await check(r.map((x) => (x.seq === 5 ? { ...x, prevHash: GENESIS_HASH } : x)), 5, 'prev hash mismatch');
  await check(r.map((x) => (x.seq === 2 ? { ...x, hash: x.hash.toUpperCase() } : x)), 2, 'hash mismatch');
  await check(r.slice(2), 3, 'prev hash mismatch', { seq: 2, hash: GENESIS_HASH });
  await check(r.map((x) => (x.seq === 2 ? { ...x, time: 1.5 } : x)), 2, 'malformed record');
  const v = await verifyAuditChain(r.filter((x) => x.seq !== 4));
  assert.deepEqual([v.count, v.last.seq], [3, 3], 'count and last describe the good prefix');
});

test('a truncated chain still verifies: only an external anchor catches it', async () => {
  const r = chain(6);
  const full = await verifyAuditChain(r);
  const cut = await verifyAuditChain(r.slice(0, 4));
  assert.equal(cut.ok, true);
  assert.notDeepEqual(cut.last, full.last);
});
