/**
 * The audit log's hash chain (docs/formats.md, "Audit log chain").
 *
 * Every record carries `prevHash` (the previous record's `hash`, 64 zeros for seq 1) and
 *
 *   hash = lowercase hex SHA-256( UTF-8( prevHash ‖ "\n" ‖ canonical(record) ) )
 *
 * where canonical(record) is the JSON text, without any whitespace, of the array
 *
 *   [seq, time, identity, serial, source, operation, path, outcome, detail]
 *
 * seq and time are JSON integers, the other members JSON strings as ECMAScript `JSON.stringify`
 * writes them (escapes only `"`, `\`, U+0000..U+001F and unpaired surrogates, using \b \f \n \r \t
 * or \uxxxx with lowercase hex; every other character as itself), and `detail` is `null` when
 * absent. The encoding is injective (a JSON array of typed members), so no two different records
 * hash alike, and seq is covered, so records cannot be reordered or renumbered unnoticed.
 *
 * What the chain proves: an edited, inserted, removed or reordered record breaks every link after
 * it. What it cannot prove on its own: that records were not cut off the end (a truncated log is a
 * valid shorter chain), nor that an attacker with write access did not recompute every hash after
 * an edit — the hash is unkeyed. Both need an anchor kept elsewhere: the (seq, hash) of a known
 * record, e.g. the `last` this function returns, published or stored off the server, and passed
 * back as `from` or compared with the new `last`.
 */
import { createHash } from 'node:crypto';
import type { AuditInput, AuditRecord, Store } from './types.ts';

/** prevHash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** A verified point of the chain: the record `seq` has hash `hash` (seq 0: the genesis). */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

export interface AuditChainResult {
  ok: boolean;
  /** Records checked and found good (before the first bad one). */
  count: number;
  /** Seq of the first record that does not verify (for a gap: the missing seq). */
  firstBad?: number;
  reason?: 'seq gap' | 'prev hash mismatch' | 'hash mismatch' | 'malformed record';
  /** The last good record, to continue from or keep as an anchor. */
  last: AuditAnchor;
}

/** The canonical encoding described at the top of this file. */
export function canonicalAuditRecord(seq: number, entry: AuditInput): string {
  return JSON.stringify([
    seq,
    entry.time,
    entry.identity,
    entry.serial,
    entry.source,
    entry.operation,
    entry.path,
    entry.outcome,
    entry.detail ?? null,
  ]);
}

export function auditRecordHash(prevHash: string, seq: number, entry: AuditInput): string {
  return createHash('sha256').update(`${prevHash}\n${canonicalAuditRecord(seq, entry)}`, 'utf8').digest('hex');
}

/** Builds the records that follow `last` in the chain (the store calls this inside its transaction). */
export function chainAuditRecords(last: AuditAnchor, entries: readonly AuditInput[]): AuditRecord[] {
  let { seq, hash: prevHash } = last;
  return entries.map((entry) => {
    seq += 1;
    const hash = auditRecordHash(prevHash, seq, entry);
    const record: AuditRecord = { ...entry, seq, prevHash, hash };
    prevHash = hash;
    return record;
  });
}

/** Throws TypeError on an entry the chain cannot encode faithfully (misuse by the caller). */
export function assertAuditInput(entry: AuditInput): void {
  if (!Number.isSafeInteger(entry.time)) throw new TypeError('audit time must be an integer number of milliseconds');
  for (const field of ['identity', 'serial', 'source', 'operation', 'path', 'outcome'] as const) {
    if (typeof entry[field] !== 'string') throw new TypeError(`audit ${field} must be a string`);
  }
  if (entry.detail !== undefined && entry.detail !== null && typeof entry.detail !== 'string') {
    throw new TypeError('audit detail must be a string');
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a run of consecutive records, ascending by seq, starting right after `from` (default: the
 * genesis, so the first record must be seq 1). Pure: reads only what it is given. Stops at the first
 * bad record. See the top of this file for what a passing result does and does not prove.
 */
export async function verifyAuditChain(
  records: Iterable<AuditRecord> | AsyncIterable<AuditRecord>,
  from: AuditAnchor = { seq: 0, hash: GENESIS_HASH },
): Promise<AuditChainResult> {
  let last = { ...from };
  let count = 0;
  const bad = (firstBad: number, reason: NonNullable<AuditChainResult['reason']>): AuditChainResult => ({
    ok: false,
    count,
    firstBad,
    reason,
    last,
  });
  for await (const r of records) {
    const expected = last.seq + 1;
    if (!Number.isSafeInteger(r.seq) || typeof r.hash !== 'string' || typeof r.prevHash !== 'string') {
      return bad(expected, 'malformed record');
    }
    if (r.seq !== expected) return bad(expected, 'seq gap');
    if (r.prevHash !== last.hash) return bad(r.seq, 'prev hash mismatch');
    let hash: string;
    try {
      assertAuditInput(r);
      hash = auditRecordHash(r.prevHash, r.seq, r);
    } catch {
      return bad(r.seq, 'malformed record');
    }
    if (!HEX64.test(r.hash) || hash !== r.hash) return bad(r.seq, 'hash mismatch');
    last = { seq: r.seq, hash: r.hash };
    count += 1;
  }
  return { ok: true, count, last };
}

/** Every audit record of a store with seq > after, ascending, fetched a page at a time. */
export async function* readAllAudit(store: Pick<Store, 'readAudit'>, after = 0, pageSize = 1000): AsyncGenerator<AuditRecord> {
  for (;;) {
    const page = await store.readAudit(after, pageSize);
    yield* page;
    const tail = page.at(-1);
    if (tail === undefined || page.length < pageSize) return;
    after = tail.seq;
  }
}
