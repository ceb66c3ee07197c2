/**
 * The audit worker thread (audit-worker.ts): its own connection to the SQLite database, appending
 * the batches the main thread posts, one transaction (one group commit, one fsync) per batch.
 *
 * Each message carries the batch's entries as entryRow JSON texts, one per line. The canonical
 * text the chain hashes (audit-chain.ts) is that same JSON array with the seq in front, so a
 * record is hashed from its row text as received, and parsed only to bind its columns: no entry
 * objects, no second serialization. The rows and the hash are exactly what SqliteStore.appendAudit
 * writes (its statements, the chain of audit-chain.ts; test/server/audit-worker.test.ts checks the
 * result with verifyAuditChain). The reply, after the COMMIT, carries the seq of the batch's first
 * record (the rest follow consecutively).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hash } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { GENESIS_HASH } from '../store/audit-chain.ts';
import { SQL } from '../store/sqlite.ts';
import { rowCanonical, type AuditRow } from './audit-worker.ts';

const port = parentPort!;
let db: DatabaseSync;
try {
  db = new DatabaseSync((workerData as { path: string }).path, { timeout: 5000 });
  // Per connection: every COMMIT waits for the WAL fsync, as the store's own connection does.
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA journal_size_limit = 67108864');
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}

const lastAudit = db.prepare(SQL.lastAudit);
const insertOne = db.prepare(SQL.insertAudit);
const insertMany = db.prepare(SQL.insertAuditRows);
const placeholders = (sql: string) => sql.split('?').length - 1;
/** Columns of one row (seq, the 8 fields of entryRow, prev_hash, hash) and rows per multi-row INSERT. */
const COLUMNS = placeholders(SQL.insertAudit);
const ROWS_PER_INSERT = placeholders(SQL.insertAuditRows) / COLUMNS;
const params: (string | number | null)[] = new Array<string | number | null>(COLUMNS * ROWS_PER_INSERT).fill(null);

/** Appends the rows (entryRow texts) after the chain's last record; answers the first seq. */
function append(rows: string[]): number {
  db.exec('BEGIN IMMEDIATE');
  try {
    const last = lastAudit.get() as { seq: number; hash: string } | undefined;
    let seq = last === undefined ? 0 : Number(last.seq);
    let prevHash = last === undefined ? GENESIS_HASH : last.hash;
    const first = seq + 1;
    let k = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      seq += 1;
      const h = hash('sha256', `${prevHash}\n${rowCanonical(seq, row)}`, 'hex');
      const r = JSON.parse(row) as AuditRow;
      params[k++] = seq;
      for (let c = 0; c < 8; c++) params[k++] = r[c]!;
      params[k++] = prevHash;
      params[k++] = h;
      prevHash = h;
      if (k === params.length) {
        insertMany.run(...params);
        k = 0;
      }
    }
    for (let j = 0; j < k; j += COLUMNS) insertOne.run(...params.slice(j, j + COLUMNS));
    db.exec('COMMIT');
    return first;
  } catch (e) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

port.on('message', (m: { id: number; rows: string } | { close: true }) => {
  if ('close' in m) {
    db.close();
    port.close();
    return;
  }
  try {
    port.postMessage({ id: m.id, first: append(m.rows.split('\n')) });
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
