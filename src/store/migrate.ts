/**
 * `ward migrate --to postgres://…`: copies a deployment's SQLite store into an empty PostgreSQL
 * database, row for row — every secret version with its sealed bytes (destroyed ones as destroyed),
 * env revisions, policies, certificates, enrolment tokens and the audit log verbatim (same seq,
 * hashes and chain), so nothing has to be re-sealed or re-signed.
 *
 * Safety: the source is read in one read transaction (a consistent snapshot even if a server is
 * still writing; stop it first so no write lands after the snapshot). Its audit chain must verify
 * first. The copy is one PostgreSQL transaction that refuses a target holding any Ward data
 * (ERR_STORE_NOT_EMPTY), and before COMMIT compares, table by table, the row counts and a SHA-256
 * over every version's sealed bytes, and verifies the copied audit chain ends on the source's last
 * hash; any difference rolls everything back (ERR_STORE_COPY_MISMATCH). After COMMIT the chain is
 * verified once more through the PostgreSQL store itself.
 */
import { createHash } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { WardError } from '../errors.ts';
import { readAllAudit, verifyAuditChain } from './audit-chain.ts';
import type { AuditAnchor } from './audit-chain.ts';
import { AUDIT_LOCK, openPostgresStore, PG_TYPES, pgStoreError } from './postgres.ts';
import { auditRecord, openSqliteStore } from './sqlite.ts';
import type { AuditRecord } from './types.ts';

/** Tables in copy order (parents before children), each with its primary key. */
const TABLES = [
  { name: 'secrets', key: 'app, env, name' },
  { name: 'secret_versions', key: 'app, env, name, version' },
  { name: 'env_revisions', key: 'app, env' },
  { name: 'policies', key: 'name' },
  { name: 'certificates', key: 'serial' },
  { name: 'tokens', key: 'hash' },
  { name: 'keks', key: 'app, env, version' },
  { name: 'recipients', key: 'app, env, id' },
  { name: 'server_keys', key: 'name' },
  { name: 'audit', key: 'seq' },
] as const;
type Table = (typeof TABLES)[number]['name'];

export interface MigrationReport {
  /** Rows copied per table (equal on both sides). */
  counts: Record<Table, number>;
  /** The last audit record, the same on both sides (seq 0: no audit yet). */
  auditHead: AuditAnchor;
}

export interface MigrateOptions {
  /** Called after each table is copied (progress). */
  onTable?: (table: Table, rows: number) => void;
}

const BATCH_ROWS = 500;
const BATCH_BYTES = 8 << 20;

type Row = Record<string, unknown>;

/** A SQLite value as PostgreSQL takes it: blobs as Buffers, the 0/1 `sealed` flag as a boolean. */
function pgValue(column: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (column === 'sealed') return v === 1;
  return v;
}

const mismatch = (what: string) =>
  new WardError('ERR_STORE_COPY_MISMATCH', `the copy does not match the source: ${what}; nothing was committed`);

/** SHA-256 over the SHA-256 of each version's ciphertext ‖ wrapped key, in key order (computed alike on both sides). */
function sealedDigest(): { add: (row: Row) => void; hex: () => string } {
  const outer = createHash('sha256');
  return {
    add: (row) => outer.update(createHash('sha256').update(row.ciphertext as Uint8Array).update(row.wrapped_key as Uint8Array).digest()),
    hex: () => outer.digest('hex'),
  };
}

async function insertBatch(client: pg.Client, table: Table, rows: Row[]): Promise<void> {
  const columns = Object.keys(rows[0] as Row);
  const values: unknown[] = [];
  const tuples = rows.map((row) => `(${columns.map((c) => `$${values.push(pgValue(c, row[c]))}`).join(', ')})`);
  await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values);
}

/**
 * Copies the SQLite store at `sqlitePath` into the PostgreSQL database at `url` (migrated first).
 *
 * @throws WardError ERR_STORE_NOT_EMPTY, ERR_STORE_COPY_MISMATCH, ERR_AUDIT_CHAIN_BROKEN (the source
 *   chain does not verify), ERR_STORE_UNAVAILABLE, ERR_STORE_SCHEMA_TOO_NEW
 */
export async function migrateSqliteToPostgres(sqlitePath: string, url: string, opts: MigrateOptions = {}): Promise<MigrationReport> {
  // bring the source to this build's schema (the target gets the same one), then read it raw
  const source = await openSqliteStore(sqlitePath);
  try {
    const v = await verifyAuditChain(readAllAudit(source));
    if (!v.ok) {
      throw new WardError('ERR_AUDIT_CHAIN_BROKEN', `the source audit chain does not verify at seq ${v.firstBad} (${v.reason}); nothing was copied`);
    }
  } finally {
    await source.close();
  }
  await (await openPostgresStore(url)).close(); // creates or checks the target schema

  const db = new DatabaseSync(sqlitePath, { readOnly: true });
  const client = new pg.Client({ connectionString: url, types: PG_TYPES });
  let counts: Record<Table, number>;
  let auditHead: AuditAnchor;
  try {
    await client.connect().catch((e: unknown) => Promise.reject(pgStoreError(e)));
    db.exec('BEGIN'); // one snapshot of every table
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK.toString()]);
      for (const { name } of TABLES) {
        const { rows } = await client.query<{ any: number }>(`SELECT count(*)::int AS any FROM (SELECT 1 FROM ${name} LIMIT 1) t`);
        if ((rows[0]?.any ?? 0) > 0) {
          throw new WardError('ERR_STORE_NOT_EMPTY', `the target database already holds ward data (table ${name})`, {
            hint: 'migrate into a new, empty database',
          });
        }
      }
      counts = {} as Record<Table, number>;
      const digest = sealedDigest();
      let lastAudit: Row | undefined;
      for (const { name, key } of TABLES) {
        let batch: Row[] = [];
        let bytes = 0;
        let n = 0;
        for (const row of db.prepare(`SELECT * FROM ${name} ORDER BY ${key}`).iterate()) {
          if (name === 'secret_versions') digest.add(row);
          if (name === 'audit') lastAudit = row;
          batch.push(row);
          bytes += Object.values(row).reduce<number>((sum, v) => sum + (v instanceof Uint8Array ? v.byteLength : 16), 0);
          n++;
          if (batch.length >= BATCH_ROWS || bytes >= BATCH_BYTES) {
            await insertBatch(client, name, batch);
            batch = [];
            bytes = 0;
          }
        }
        if (batch.length > 0) await insertBatch(client, name, batch);
        counts[name] = n;
        const copied = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`)).rows[0]?.n;
        if (copied !== n) throw mismatch(`table ${name} has ${copied} rows, the source ${n}`);
        opts.onTable?.(name, n);
      }
      const target = (await client.query<{ d: string | null }>(
        `SELECT encode(sha256(coalesce(string_agg(sha256(ciphertext || wrapped_key), ''::bytea ORDER BY app, env, name, version), ''::bytea)), 'hex') AS d
         FROM secret_versions`,
      )).rows[0]?.d;
      if (target !== digest.hex()) throw mismatch('sealed bytes of secret versions differ');
      auditHead = lastAudit === undefined ? { seq: 0, hash: '0'.repeat(64) } : { seq: Number(lastAudit.seq), hash: String(lastAudit.hash) };
      const chain = await verifyAuditChain(readAuditTx(client));
      if (!chain.ok || chain.last.seq !== auditHead.seq || chain.last.hash !== auditHead.hash) throw mismatch('audit chain');
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw pgStoreError(e);
    }
  } finally {
    try {
      db.exec('ROLLBACK');
    } catch {
      // no read transaction was open
    }
    db.close();
    await client.end().catch(() => undefined);
  }

  // once more, as the server will read it
  const store = await openPostgresStore(url);
  try {
    const v = await verifyAuditChain(readAllAudit(store));
    if (!v.ok || v.last.seq !== auditHead.seq || v.last.hash !== auditHead.hash) throw mismatch('audit chain after commit');
  } finally {
    await store.close();
  }
  return { counts, auditHead };
}

/** The audit records inside the copy transaction, a page at a time. */
async function* readAuditTx(client: pg.Client): AsyncGenerator<AuditRecord> {
  let after = 0;
  for (;;) {
    const { rows } = await client.query('SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT 1000', [after]);
    for (const r of rows) yield auditRecord(r);
    if (rows.length < 1000) return;
    after = Number((rows.at(-1) as Row).seq);
  }
}
