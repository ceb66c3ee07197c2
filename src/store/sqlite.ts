/**
 * The embedded store: one SQLite file through Node's built-in `node:sqlite` (DatabaseSync).
 *
 * Durability: WAL with `synchronous = FULL`, so COMMIT returns only after the WAL is fsynced; every
 * promise this store resolves after a write means the write survives a crash (kill -9 or power
 * loss). The file and its -wal/-shm companions are created with mode 0600 (SQLite gives the
 * companions the main file's mode; they are chmodded too). `secure_delete` is on, so destroyed
 * values and deleted rows are overwritten with zeros rather than left in free pages.
 *
 * Concurrency: node:sqlite is synchronous, so a transaction that runs start to finish in one turn of
 * the event loop cannot interleave with anything. putSecret's cannot run in one turn: `seal` may be
 * async, and the version it binds must be the one written. So putSecret does BEGIN IMMEDIATE (taking
 * SQLite's write lock against other processes), reads the current version, awaits `seal` (called
 * exactly once, bounded by `sealTimeoutMs`), then inserts and COMMITs. While that transaction is
 * open, any other write on this connection would silently join it, so every write transaction
 * first takes the store's FIFO {@link Mutex}: one write transaction at a time, in arrival order.
 * Reads take no lock: they never observe the open transaction's writes, because putSecret writes
 * nothing before `seal` returns and everything after it in the same synchronous turn.
 *
 * Open one SqliteStore per file per process: a second connection in the same process would wait
 * for the first one's write lock synchronously (busy timeout), blocking the very event loop that
 * must finish the first one's `seal`. Separate processes on one file are fine.
 *
 * Audit group commit: appendAudit calls made in the same turn are queued and flushed on
 * setImmediate in one transaction, in call order; each caller's promise resolves after that
 * COMMIT. The fsync of a COMMIT blocks the event loop (the API is synchronous), so grouping is what
 * keeps an audited read path at one fsync per turn rather than one per request.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { WardError } from '../errors.ts';
import { assertAuditInput, chainAuditRecords, GENESIS_HASH } from './audit-chain.ts';
import type { AuditAnchor } from './audit-chain.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';
import { Mutex } from './mutex.ts';
import { certificatePage, clampLimit, decodeCertificateCursor, decodeCursor, encodeCursor, resumeAfter } from './paging.ts';
import { assertSegments, formatSecretPath } from './paths.ts';
import type {
  AuditInput,
  AuditRecord,
  CertificateRecord,
  EnrolmentToken,
  KekRow,
  ListCertificatesQuery,
  ListSecretsQuery,
  RewrapUpdate,
  NewSecretVersion,
  Page,
  PolicyRecord,
  RecipientRecord,
  SecretMeta,
  SecretRef,
  SecretVersion,
  SecretVersionMeta,
  ServerKeyRecord,
  Store,
  StoreChange,
  WrappedKeyRow,
} from './types.ts';
import { withSealTimeout } from './seal-timeout.ts';

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock before ERR_STORE_UNAVAILABLE (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * How long putSecret waits for `seal` (default 30000 ms). The write lock is held meanwhile, so a
   * seal that never returns (a hung key provider) would otherwise stall every write, audit included.
   */
  sealTimeoutMs?: number;
  /** Apply pending migrations on open (default true). With false, call {@link Store.migrate}. */
  migrate?: boolean;
  /** Clock for created/updated/deleted times (default Date.now); tests pin it. */
  now?: () => number;
}

type Row = Record<string, unknown>;
type SealedFields = Omit<NewSecretVersion, keyof SecretRef>;

// SQLite primary result codes (errcode & 0xff) that mean something to Ward.
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

// Extended codes: a duplicate key (as opposed to a failed CHECK, which is a bug).
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

function isDuplicateKey(e: unknown): boolean {
  const errcode = (e as { errcode?: unknown } | null)?.errcode;
  return errcode === SQLITE_CONSTRAINT_PRIMARYKEY || errcode === SQLITE_CONSTRAINT_UNIQUE;
}

function sqliteCode(e: unknown): number | undefined {
  const errcode = (e as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode & 0xff : undefined;
}

/** Maps SQLite failures onto Ward's codes; anything else passes through unchanged. */
function storeError(e: unknown): unknown {
  switch (sqliteCode(e)) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new WardError('ERR_STORE_UNAVAILABLE', 'database is locked by another process', {
        cause: e,
        hint: 'another ward server may be using the same database file',
      });
    case SQLITE_CANTOPEN:
      return new WardError('ERR_STORE_UNAVAILABLE', 'database file cannot be opened', { cause: e });
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return new WardError('ERR_IO', 'database file cannot be written: disk full or i/o error', { cause: e });
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return new WardError('ERR_STORE_CORRUPT', 'database file is damaged or not a ward database', { cause: e });
    default:
      return e;
  }
}

const buf = (v: unknown): Buffer => {
  const u = v as Uint8Array;
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
};
const num = (v: unknown): number => v as number;
const str = (v: unknown): string => v as string;
const numOrNull = (v: unknown): number | null => (v === null ? null : (v as number));
const kindOf = (v: unknown): 'env' | 'file' => v as 'env' | 'file';

export function versionMeta(r: Row): SecretVersionMeta {
  return {
    app: str(r.app),
    env: str(r.env),
    name: str(r.name),
    version: num(r.version),
    keyId: str(r.key_id),
    format: num(r.format),
    kind: kindOf(r.kind),
    sealed: r.sealed === 1,
    createdBy: str(r.created_by),
    createdAt: num(r.created_at),
    destroyedAt: numOrNull(r.destroyed_at),
  };
}

/**
 * A row of {@link VERSION_ROW} columns, read as an array: the batch read's hot path, where arrays
 * and the two known columns left out halve node:sqlite's per-row cost against objects.
 */
export function version(app: string, env: string, r: unknown[]): SecretVersion {
  return {
    app,
    env,
    name: str(r[0]),
    version: num(r[1]),
    ciphertext: buf(r[2]),
    wrappedKey: buf(r[3]),
    keyId: str(r[4]),
    format: num(r[5]),
    kind: kindOf(r[6]),
    sealed: r[7] === 1,
    createdBy: str(r[8]),
    createdAt: num(r[9]),
    destroyedAt: numOrNull(r[10]),
  };
}

export function secretMeta(r: Row): SecretMeta {
  return {
    app: str(r.app),
    env: str(r.env),
    name: str(r.name),
    currentVersion: num(r.current_version),
    kind: kindOf(r.kind),
    sealed: r.sealed === 1,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    deletedAt: numOrNull(r.deleted_at),
  };
}

export function kekRow(r: Row): KekRow {
  return { app: str(r.app), env: str(r.env), version: num(r.version), masterKeyId: str(r.master_key_id), wrapped: buf(r.wrapped), createdAt: num(r.created_at) };
}

export function wrappedKeyRow(app: string, env: string, r: Row): WrappedKeyRow {
  return { app, env, name: str(r.name), version: num(r.version), format: num(r.format), wrappedKey: buf(r.wrapped_key), keyId: str(r.key_id) };
}

/** Misuse of the KEK methods is a TypeError, as for every store method. */
export function assertKek(k: KekRow): void {
  assertSegments(k.app, k.env);
  if (!Number.isSafeInteger(k.version) || k.version < 1) throw new TypeError('version must be a positive integer');
  if (typeof k.masterKeyId !== 'string' || k.masterKeyId.length === 0 || !Buffer.isBuffer(k.wrapped) || !Number.isSafeInteger(k.createdAt)) {
    throw new TypeError('masterKeyId, wrapped (a Buffer) and createdAt are required');
  }
}

/** Checks the arguments of wrappedKeys. */
export function assertKeyArgs(keyId: string, after: { name: string; version: number } | null, limit: number): void {
  if (typeof keyId !== 'string' || keyId.length === 0) throw new TypeError('keyId must be a non-empty string');
  if (after !== null && (typeof after.name !== 'string' || !Number.isSafeInteger(after.version))) throw new TypeError('after must be { name, version }');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new TypeError('limit must be 1..10000');
}

/** Checks the arguments of rewrapKeys. */
export function assertRewraps(updates: RewrapUpdate[]): void {
  if (!Array.isArray(updates) || updates.length > 10_000) throw new TypeError('updates must be an array of at most 10000');
  for (const u of updates) {
    assertSegments(u.ref.app, u.ref.env, u.ref.name);
    assertKeyArgs(u.oldKeyId, null, 1);
    assertKeyArgs(u.keyId, null, 1);
    if (!Buffer.isBuffer(u.wrappedKey) || !Number.isSafeInteger(u.ref.version)) throw new TypeError('wrappedKey must be a Buffer and version an integer');
  }
}

export function policy(r: Row): PolicyRecord {
  return { name: str(r.name), document: str(r.document), updatedAt: num(r.updated_at), updatedBy: str(r.updated_by) };
}

export function certificate(r: Row): CertificateRecord {
  return {
    serial: str(r.serial),
    name: str(r.name),
    spiffeId: str(r.spiffe_id),
    app: str(r.app),
    env: str(r.env),
    role: r.role as CertificateRecord['role'],
    notBefore: num(r.not_before),
    notAfter: num(r.not_after),
    fingerprint: str(r.fingerprint),
    issuedAt: num(r.issued_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function auditRecord(r: Row): AuditRecord {
  const rec: AuditRecord = {
    seq: num(r.seq),
    time: num(r.time),
    identity: str(r.identity),
    serial: str(r.serial),
    source: str(r.source),
    operation: str(r.operation),
    path: str(r.path),
    outcome: str(r.outcome),
    prevHash: str(r.prev_hash),
    hash: str(r.hash),
  };
  if (r.detail !== null) rec.detail = str(r.detail);
  return rec;
}

export function token(r: Row): EnrolmentToken {
  return {
    hash: str(r.hash),
    app: str(r.app),
    env: str(r.env),
    cidrs: JSON.parse(str(r.cidrs)) as string[],
    expiresAt: num(r.expires_at),
    createdAt: num(r.created_at),
    createdBy: str(r.created_by),
    usedAt: numOrNull(r.used_at),
  };
}

export function recipient(r: Row): RecipientRecord {
  return {
    app: str(r.app),
    env: str(r.env),
    id: str(r.id),
    kind: r.kind as RecipientRecord['kind'],
    key: str(r.key),
    createdAt: num(r.created_at),
    createdBy: str(r.created_by),
  };
}

export function serverKey(r: Row): ServerKeyRecord {
  return {
    name: str(r.name),
    ciphertext: buf(r.ciphertext),
    wrappedKey: buf(r.wrapped_key),
    keyId: str(r.key_id),
    publicKey: str(r.public_key),
    createdAt: num(r.created_at),
  };
}

/** Misuse of the recipient methods is a TypeError, as for every store method. */
export function assertRecipient(r: RecipientRecord): void {
  assertSegments(r.app, r.env);
  if (r.kind !== 'age' && r.kind !== 'pgp') throw new TypeError("kind must be 'age' or 'pgp'");
  if (typeof r.id !== 'string' || r.id.length === 0 || typeof r.key !== 'string' || r.key.length === 0) throw new TypeError('id and key must be non-empty strings');
  if (!Number.isSafeInteger(r.createdAt) || typeof r.createdBy !== 'string') throw new TypeError('createdAt must be an integer and createdBy a string');
}

export function assertServerKey(k: ServerKeyRecord): void {
  if (typeof k.name !== 'string' || k.name.length === 0) throw new TypeError('name must be a non-empty string');
  if (!Buffer.isBuffer(k.ciphertext) || !Buffer.isBuffer(k.wrappedKey)) throw new TypeError('ciphertext and wrappedKey must be Buffers');
  if (typeof k.keyId !== 'string' || typeof k.publicKey !== 'string' || !Number.isSafeInteger(k.createdAt)) throw new TypeError('keyId, publicKey and createdAt are required');
}

export function assertSealed(s: SealedFields): void {
  if (!Buffer.isBuffer(s.ciphertext) || !Buffer.isBuffer(s.wrappedKey)) throw new TypeError('seal must return Buffers');
  if (typeof s.keyId !== 'string' || typeof s.createdBy !== 'string') throw new TypeError('seal must return keyId and createdBy strings');
  if (!Number.isSafeInteger(s.format)) throw new TypeError('seal must return an integer format');
  if (s.kind !== 'env' && s.kind !== 'file') throw new TypeError("kind must be 'env' or 'file'");
  if (typeof s.sealed !== 'boolean') throw new TypeError('sealed must be a boolean');
}

const VERSION_COLUMNS = 'app, env, name, version, key_id, format, kind, sealed, created_by, created_at, destroyed_at';
export const VERSION_ROW = 'v.name, v.version, v.ciphertext, v.wrapped_key, v.key_id, v.format, v.kind, v.sealed, v.created_by, v.created_at, v.destroyed_at';

/** Rows per multi-row audit INSERT (SQL.insertAuditRows). */
const AUDIT_ROWS_PER_INSERT = 16;

/** Every statement the store runs (exported for the query-plan test). */
export const SQL = {
  maxMigration: 'SELECT max(version) AS v FROM schema_migrations',
  currentSecret: 'SELECT current_version, deleted_at FROM secrets WHERE app = ? AND env = ? AND name = ?',
  insertVersion: `INSERT INTO secret_versions (app, env, name, version, ciphertext, wrapped_key, key_id, format, kind, sealed, created_by, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertSecret: `INSERT INTO secrets (app, env, name, current_version, kind, sealed, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  updateSecret: `UPDATE secrets SET current_version = ?, kind = ?, sealed = ?, updated_at = ?, deleted_at = NULL
    WHERE app = ? AND env = ? AND name = ?`,
  bumpRevision: `INSERT INTO env_revisions (app, env, revision) VALUES (?, ?, 1)
    ON CONFLICT (app, env) DO UPDATE SET revision = revision + 1`,
  envRevision: 'SELECT revision FROM env_revisions WHERE app = ? AND env = ?',
  latestKek: 'SELECT * FROM keks WHERE app = ? AND env = ? ORDER BY version DESC LIMIT 1',
  getKek: 'SELECT * FROM keks WHERE app = ? AND env = ? AND version = ?',
  insertKek: `INSERT INTO keks (app, env, version, master_key_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (app, env, version) DO NOTHING`,
  tombstoneKek: `UPDATE keks SET wrapped = x'' WHERE app = ? AND env = ? AND version = ? AND length(wrapped) > 0`,
  listKeks: `SELECT app, env, version, master_key_id, x'' AS wrapped, created_at FROM keks ORDER BY app, env, version`,
  keyUsage: `SELECT app, env, key_id, count(*) AS n FROM secret_versions WHERE destroyed_at IS NULL GROUP BY app, env, key_id ORDER BY app, env, key_id`,
  keyUsageOf: `SELECT app, env, key_id, count(*) AS n FROM secret_versions WHERE app = ? AND env = ? AND destroyed_at IS NULL
    GROUP BY key_id ORDER BY key_id`,
  wrappedKeys: `SELECT name, version, format, wrapped_key, key_id FROM secret_versions
    WHERE app = ? AND env = ? AND key_id = ? AND destroyed_at IS NULL ORDER BY name, version LIMIT ?`,
  wrappedKeysAfter: `SELECT name, version, format, wrapped_key, key_id FROM secret_versions
    WHERE app = ? AND env = ? AND key_id = ? AND (name, version) > (?, ?) AND destroyed_at IS NULL ORDER BY name, version LIMIT ?`,
  rewrapKey: `UPDATE secret_versions SET wrapped_key = ?, key_id = ?
    WHERE app = ? AND env = ? AND name = ? AND version = ? AND key_id = ? AND destroyed_at IS NULL`,
  getLatest: `SELECT ${VERSION_ROW} FROM secrets s JOIN secret_versions v
    ON v.app = s.app AND v.env = s.env AND v.name = s.name AND v.version = s.current_version
    WHERE s.app = ? AND s.env = ? AND s.name = ? AND s.deleted_at IS NULL`,
  getVersion: `SELECT ${VERSION_ROW} FROM secrets s JOIN secret_versions v
    ON v.app = s.app AND v.env = s.env AND v.name = s.name
    WHERE s.app = ? AND s.env = ? AND s.name = ? AND s.deleted_at IS NULL AND v.version = ?`,
  // The batch read: one range scan of the secrets primary key joined on the versions primary key.
  getEnv: `SELECT ${VERSION_ROW} FROM secrets s JOIN secret_versions v
    ON v.app = s.app AND v.env = s.env AND v.name = s.name AND v.version = s.current_version
    WHERE s.app = ? AND s.env = ? AND s.deleted_at IS NULL AND v.destroyed_at IS NULL
    ORDER BY s.name`,
  secretMeta: 'SELECT * FROM secrets WHERE app = ? AND env = ? AND name = ?',
  history: `SELECT ${VERSION_COLUMNS} FROM secret_versions WHERE app = ? AND env = ? AND name = ? ORDER BY version`,
  softDelete: `UPDATE secrets SET deleted_at = ?, updated_at = ? WHERE app = ? AND env = ? AND name = ? AND deleted_at IS NULL`,
  undelete: `UPDATE secrets SET deleted_at = NULL, updated_at = ? WHERE app = ? AND env = ? AND name = ? AND deleted_at IS NOT NULL`,
  destroyAll: `UPDATE secret_versions SET ciphertext = x'', wrapped_key = x'', destroyed_at = ?
    WHERE app = ? AND env = ? AND name = ? AND destroyed_at IS NULL`,
  destroySome: `UPDATE secret_versions SET ciphertext = x'', wrapped_key = x'', destroyed_at = ?
    WHERE app = ? AND env = ? AND name = ? AND destroyed_at IS NULL AND version IN (SELECT value FROM json_each(?))`,
  putPolicy: `INSERT INTO policies (name, document, updated_at, updated_by) VALUES (?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  listPolicies: 'SELECT * FROM policies ORDER BY name',
  deletePolicy: 'DELETE FROM policies WHERE name = ?',
  insertCertificate: `INSERT INTO certificates (serial, name, spiffe_id, app, env, role, not_before, not_after, fingerprint, issued_at, revoked_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // keyset pages over the certificates_issued index (migration 4)
  listCertificates: 'SELECT * FROM certificates ORDER BY issued_at, serial LIMIT ?',
  listCertificatesAfter: 'SELECT * FROM certificates WHERE (issued_at, serial) > (?, ?) ORDER BY issued_at, serial LIMIT ?',
  certBySerial: 'SELECT * FROM certificates WHERE serial = ?',
  // A name can be reissued: the newest certificate of that name stands for it.
  certByName: 'SELECT * FROM certificates WHERE name = ? ORDER BY issued_at DESC, serial DESC LIMIT 1',
  revokeSerial: 'UPDATE certificates SET revoked_at = coalesce(revoked_at, ?) WHERE serial = ?',
  revokeName: 'UPDATE certificates SET revoked_at = coalesce(revoked_at, ?) WHERE name = ?',
  revokedSerials: 'SELECT serial FROM certificates WHERE revoked_at IS NOT NULL',
  lastAudit: 'SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1',
  insertAudit: `INSERT INTO audit (seq, time, identity, serial, source, operation, path, outcome, detail, prev_hash, hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  /** insertAudit with AUDIT_ROWS_PER_INSERT rows: one statement execution per 16 records of a group commit. */
  insertAuditRows: `INSERT INTO audit (seq, time, identity, serial, source, operation, path, outcome, detail, prev_hash, hash)
    VALUES ${Array.from({ length: AUDIT_ROWS_PER_INSERT }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
  readAudit: 'SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?',
  putToken: `INSERT INTO tokens (hash, app, env, cidrs, expires_at, created_at, created_by, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  consumeToken: 'UPDATE tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING *',
  findToken: 'SELECT * FROM tokens WHERE hash = ?',
  addRecipient: `INSERT INTO recipients (app, env, id, kind, key, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (app, env, id) DO NOTHING`,
  listRecipients: 'SELECT * FROM recipients WHERE app = ? AND env = ? ORDER BY id',
  removeRecipient: 'DELETE FROM recipients WHERE app = ? AND env = ? AND id = ?',
  initServerKey: `INSERT INTO server_keys (name, ciphertext, wrapped_key, key_id, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO NOTHING`,
  getServerKey: 'SELECT * FROM server_keys WHERE name = ?',
  rewrapServerKey: 'UPDATE server_keys SET ciphertext = ?, wrapped_key = ?, key_id = ? WHERE name = ? AND key_id = ?',
  hasMigration: 'SELECT 1 FROM schema_migrations WHERE version = ?',
} as const;

/**
 * The listing query: equality on the (app[, env]) prefix the filter fixes, then a keyset range on
 * the remaining key columns, so each page is one primary-key range scan. Null: nothing to list.
 */
export function listSecretsSql(query: ListSecretsQuery, limit: number): { sql: string; params: (string | number)[] } | null {
  const { app, env, includeDeleted = false, cursor } = query;
  const prefix = app === undefined ? [] : env === undefined ? [app] : [app, env];
  const resume = resumeAfter(prefix, cursor == null ? null : decodeCursor(cursor));
  if (resume === null) return null;
  const keys = ['app', 'env', 'name'];
  const where = prefix.map((_, i) => `${keys[i]} = ?`);
  const params: (string | number)[] = [...prefix];
  if (resume.bound.length > 0) {
    where.push(`(${keys.slice(prefix.length).join(', ')}) > (${resume.bound.map(() => '?').join(', ')})`);
    params.push(...resume.bound);
  }
  if (app === undefined && env !== undefined) {
    where.push('env = ?');
    params.push(env);
  }
  if (!includeDeleted) where.push('deleted_at IS NULL');
  params.push(limit);
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')} ` : '';
  return { sql: `SELECT * FROM secrets ${filter}ORDER BY app, env, name LIMIT ?`, params };
}

/** An audit record as the insertAudit parameters. */
function auditRow(r: AuditRecord): (string | number | null)[] {
  return [r.seq, r.time, r.identity, r.serial, r.source, r.operation, r.path, r.outcome, r.detail ?? null, r.prevHash, r.hash];
}

export const CERT_ROLES = new Set<string>(['admin', 'workload', 'server']);

interface AuditJob {
  entries: AuditInput[];
  resolve: (records: AuditRecord[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Subscribers per database file, for every SqliteStore of this process on that file (an in-memory
 * database has its own key). Other processes' writes are not signalled: they poll envRevision.
 */
const subscribers = new Map<string | symbol, Set<(event: StoreChange) => void>>();

export class SqliteStore implements Store {
  readonly path: string;
  /** Counters for metrics (and for the group-commit test). */
  readonly stats = { auditCommits: 0, auditRecords: 0 };
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #writeLock = new Mutex();
  #closed = false;
  #auditQueue: AuditJob[] = [];
  #auditScheduled = false;

  readonly #sealTimeoutMs: number;
  readonly #channel: string | symbol;

  /** Use {@link openSqliteStore}. */
  constructor(path: string, db: DatabaseSync, now: () => number, sealTimeoutMs: number) {
    this.path = path;
    this.#db = db;
    this.#now = now;
    this.#sealTimeoutMs = sealTimeoutMs;
    this.#channel = path === ':memory:' || path === '' ? Symbol(path) : resolve(path);
  }

  /** In-process change notification (see {@link subscribers}); returns the unsubscribe function. */
  subscribe(onChange: (event: StoreChange) => void): () => void {
    this.#assertOpen();
    let set = subscribers.get(this.#channel);
    if (set === undefined) subscribers.set(this.#channel, (set = new Set()));
    const listener = (event: StoreChange) => onChange(event);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && subscribers.get(this.#channel) === set) subscribers.delete(this.#channel);
    };
  }

  /** After a write committed: tells the subscribers, unless it changed nothing (false, 0, null). */
  async #changed<T>(write: Promise<T>, event: StoreChange): Promise<T> {
    const result = await write;
    if (result !== false && result !== 0 && result !== null) {
      for (const l of [...(subscribers.get(this.#channel) ?? [])]) {
        try {
          l(event);
        } catch {
          // a subscriber's failure is its own
        }
      }
    }
    return result;
  }

  /** The statement for `sql`, prepared once. With `arrays`, rows come back as arrays (hot reads). */
  #q(sql: string, arrays = false): StatementSync {
    let s = this.#stmts.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      if (arrays) s.setReturnArrays(true);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #versions(sql: string, app: string, env: string, ...params: (string | number)[]): SecretVersion[] {
    const rows = this.#q(sql, true).all(app, env, ...params) as unknown as unknown[][];
    return rows.map((r) => version(app, env, r));
  }

  #assertOpen(): void {
    if (this.#closed) throw new WardError('ERR_STORE_UNAVAILABLE', 'store is closed');
  }

  /** Runs `fn` holding the write lock (see the top of this file). */
  async #locked<T>(fn: () => T | Promise<T>): Promise<T> {
    this.#assertOpen();
    await this.#writeLock.lock();
    try {
      this.#assertOpen();
      return await fn();
    } finally {
      this.#writeLock.unlock();
    }
  }

  /** BEGIN IMMEDIATE, `fn`, COMMIT; ROLLBACK when anything fails. The caller holds the write lock. */
  async #tx<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      const result = await fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (e) {
      try {
        this.#db.exec('ROLLBACK');
      } catch {
        // no transaction left to roll back (BEGIN failed, or SQLite already rolled back)
      }
      throw storeError(e);
    }
  }

  /** One write transaction, after the writes queued before it. */
  #write<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#locked(() => this.#tx(fn));
  }

  #read<T>(fn: () => T): Promise<T> {
    try {
      this.#assertOpen();
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(storeError(e));
    }
  }

  /** The schema version recorded in the file (0 when empty). */
  schemaVersion(): number {
    const has = this.#db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (has === undefined) return 0;
    return num(this.#db.prepare(SQL.maxMigration).get()?.v ?? 0);
  }

  /** @throws WardError ERR_STORE_SCHEMA_TOO_NEW when the file was migrated by a newer Ward. */
  checkSchemaVersion(): number {
    const v = this.schemaVersion();
    if (v > SCHEMA_VERSION) {
      throw new WardError('ERR_STORE_SCHEMA_TOO_NEW', `database schema version ${v} is newer than this ward supports (${SCHEMA_VERSION})`, {
        hint: 'run the ward version that last migrated this database, or a newer one',
      });
    }
    return v;
  }

  /** Applies each pending migration in its own transaction with its schema_migrations row. */
  migrate(): Promise<void> {
    return this.#locked(async () => {
      try {
        this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
      } catch (e) {
        throw storeError(e);
      }
      for (const m of MIGRATIONS) {
        await this.#tx(() => {
          // read inside the transaction: another process may have migrated meanwhile. By version,
          // not by the highest one: migrations made side by side may land out of order
          this.checkSchemaVersion();
          if (this.#db.prepare(SQL.hasMigration).get(m.version) !== undefined) return;
          this.#db.exec(m.sql);
          this.#db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, this.#now());
        });
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#writeLock.lock();
    try {
      if (this.#closed) return;
      // appends already accepted reach the disk before the file closes
      await this.#commitAudit();
      this.#closed = true;
      this.#stmts.clear();
      try {
        this.#db.exec('PRAGMA optimize'); // SQLite's advice for long-lived connections: refresh planner stats
      } catch {
        // an optimisation only; closing matters
      }
      this.#db.close();
    } finally {
      this.#writeLock.unlock();
    }
  }

  putSecret(ref: SecretRef & { cas?: number }, seal: (version: number) => Promise<SealedFields> | SealedFields): Promise<SecretVersion> {
    const { app, env, name, cas } = ref;
    assertSegments(app, env, name);
    if (cas !== undefined && !(Number.isSafeInteger(cas) && cas >= 0)) throw new TypeError('cas must be a non-negative integer');
    return this.#changed(this.#write(async () => {
      const row = this.#q(SQL.currentSecret).get(app, env, name);
      const current = row === undefined ? 0 : num(row.current_version);
      if (cas !== undefined && cas !== current) {
        throw new WardError('ERR_API_CONFLICT', `version conflict on ${formatSecretPath(ref)}: current version is ${current}, not ${cas}`, {
          hint: 'read the secret again and retry with its current version',
        });
      }
      const next = current + 1;
      const sealed = await withSealTimeout(seal(next), this.#sealTimeoutMs);
      assertSealed(sealed);
      const now = this.#now();
      if (row === undefined) this.#q(SQL.insertSecret).run(app, env, name, next, sealed.kind, sealed.sealed ? 1 : 0, now, now);
      else this.#q(SQL.updateSecret).run(next, sealed.kind, sealed.sealed ? 1 : 0, now, app, env, name);
      this.#q(SQL.insertVersion).run(
        app, env, name, next, sealed.ciphertext, sealed.wrappedKey, sealed.keyId, sealed.format,
        sealed.kind, sealed.sealed ? 1 : 0, sealed.createdBy, now,
      );
      this.#q(SQL.bumpRevision).run(app, env);
      return {
        app, env, name, version: next,
        ciphertext: sealed.ciphertext, wrappedKey: sealed.wrappedKey, keyId: sealed.keyId, format: sealed.format,
        kind: sealed.kind, sealed: sealed.sealed, createdBy: sealed.createdBy, createdAt: now, destroyedAt: null,
      };
    }), { kind: 'secret', app, env });
  }

  /**
   * A destroyed version is still returned, with `destroyedAt` set and empty ciphertext and wrapped
   * key, so the server can answer "destroyed" rather than "not found".
   */
  getSecret(ref: SecretRef, v?: number): Promise<SecretVersion | null> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#read(() => {
      const { app, env, name } = ref;
      const rows = v === undefined
        ? this.#versions(SQL.getLatest, app, env, name)
        : Number.isSafeInteger(v) ? this.#versions(SQL.getVersion, app, env, name, v) : [];
      return rows[0] ?? null;
    });
  }

  /** Live secrets only: soft-deleted secrets and secrets whose latest version was destroyed are left out. */
  getEnv(app: string, env: string): Promise<SecretVersion[]> {
    assertSegments(app, env);
    return this.#read(() => this.#versions(SQL.getEnv, app, env));
  }

  listSecrets(query: ListSecretsQuery): Promise<Page<SecretMeta>> {
    if (query.app !== undefined) assertSegments(query.app);
    if (query.env !== undefined) assertSegments(query.env);
    const limit = clampLimit(query.limit);
    return this.#read(() => {
      const q = listSecretsSql(query, limit + 1);
      if (q === null) return { items: [], next: null };
      const rows = this.#q(q.sql).all(...q.params);
      const items = rows.slice(0, limit).map(secretMeta);
      const last = items.at(-1);
      return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last) : null };
    });
  }

  /** Also returns soft-deleted secrets (see `deletedAt`), so callers can tell deleted from absent. */
  getSecretMeta(ref: SecretRef): Promise<SecretMeta | null> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#read(() => {
      const row = this.#q(SQL.secretMeta).get(ref.app, ref.env, ref.name);
      return row === undefined ? null : secretMeta(row);
    });
  }

  /** Metadata of every version, ascending; also for a soft-deleted secret (nothing is revealed). */
  history(ref: SecretRef): Promise<SecretVersionMeta[]> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#read(() => this.#q(SQL.history).all(ref.app, ref.env, ref.name).map(versionMeta));
  }

  softDelete(ref: SecretRef): Promise<boolean> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#changed(this.#write(() => {
      const now = this.#now();
      const changed = this.#q(SQL.softDelete).run(now, now, ref.app, ref.env, ref.name).changes > 0;
      if (changed) this.#q(SQL.bumpRevision).run(ref.app, ref.env);
      return changed;
    }), { kind: 'secret', app: ref.app, env: ref.env });
  }

  undelete(ref: SecretRef): Promise<boolean> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#changed(this.#write(() => {
      const changed = this.#q(SQL.undelete).run(this.#now(), ref.app, ref.env, ref.name).changes > 0;
      if (changed) this.#q(SQL.bumpRevision).run(ref.app, ref.env);
      return changed;
    }), { kind: 'secret', app: ref.app, env: ref.env });
  }

  /**
   * Overwrites the sealed bytes with empty blobs (secure_delete zeroes the old cells) and sets
   * `destroyedAt`; returns how many versions it destroyed now. Then truncates the WAL, which still
   * holds copies of the old pages.
   */
  destroy(ref: SecretRef, versions?: number[]): Promise<number> {
    assertSegments(ref.app, ref.env, ref.name);
    if (versions !== undefined && !versions.every((v) => Number.isSafeInteger(v))) throw new TypeError('versions must be integers');
    return this.#changed(this.#locked(async () => {
      const count = await this.#tx(() => {
        const now = this.#now();
        const n = versions === undefined
          ? this.#q(SQL.destroyAll).run(now, ref.app, ref.env, ref.name).changes
          : this.#q(SQL.destroySome).run(now, ref.app, ref.env, ref.name, JSON.stringify(versions)).changes;
        if (n > 0) this.#q(SQL.bumpRevision).run(ref.app, ref.env);
        return Number(n);
      });
      if (count > 0) this.#truncateWal();
      return count;
    }), { kind: 'secret', app: ref.app, env: ref.env });
  }

  /** Copies the WAL into the main file and empties it; best effort (another reader may pin it). */
  #truncateWal(): void {
    try {
      this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch (e) {
      if (sqliteCode(e) !== SQLITE_BUSY && sqliteCode(e) !== SQLITE_LOCKED) throw storeError(e);
    }
  }

  envRevision(app: string, env: string): Promise<number> {
    assertSegments(app, env);
    return this.#read(() => num(this.#q(SQL.envRevision).get(app, env)?.revision ?? 0));
  }

  latestKek(app: string, env: string): Promise<KekRow | null> {
    assertSegments(app, env);
    return this.#read(() => {
      const row = this.#q(SQL.latestKek).get(app, env);
      return row === undefined ? null : kekRow(row);
    });
  }

  getKek(app: string, env: string, version: number): Promise<KekRow | null> {
    assertSegments(app, env);
    return this.#read(() => {
      const row = Number.isSafeInteger(version) ? this.#q(SQL.getKek).get(app, env, version) : undefined;
      return row === undefined ? null : kekRow(row);
    });
  }

  insertKek(k: KekRow): Promise<boolean> {
    assertKek(k);
    return this.#write(() => Number(this.#q(SQL.insertKek).run(k.app, k.env, k.version, k.masterKeyId, k.wrapped, k.createdAt).changes) === 1);
  }

  tombstoneKek(app: string, env: string, version: number): Promise<boolean> {
    assertSegments(app, env);
    if (!Number.isSafeInteger(version)) throw new TypeError('version must be an integer');
    return this.#write(() => Number(this.#q(SQL.tombstoneKek).run(app, env, version).changes) === 1);
  }

  listKeks(): Promise<KekRow[]> {
    return this.#read(() => this.#q(SQL.listKeks).all().map(kekRow));
  }

  keyUsage(scope?: { app: string; env: string }): Promise<{ app: string; env: string; keyId: string; count: number }[]> {
    if (scope) assertSegments(scope.app, scope.env);
    return this.#read(() =>
      (scope ? this.#q(SQL.keyUsageOf).all(scope.app, scope.env) : this.#q(SQL.keyUsage).all()).map((r) => ({
        app: str(r.app),
        env: str(r.env),
        keyId: str(r.key_id),
        count: num(r.n),
      })),
    );
  }

  wrappedKeys(app: string, env: string, keyId: string, after: { name: string; version: number } | null, limit: number): Promise<WrappedKeyRow[]> {
    assertSegments(app, env);
    assertKeyArgs(keyId, after, limit);
    return this.#read(() =>
      (after === null ? this.#q(SQL.wrappedKeys).all(app, env, keyId, limit) : this.#q(SQL.wrappedKeysAfter).all(app, env, keyId, after.name, after.version, limit))
        .map((r) => wrappedKeyRow(app, env, r)),
    );
  }

  /** One transaction, so a batch costs one fsync (the event loop waits for it). */
  rewrapKeys(updates: RewrapUpdate[]): Promise<boolean[]> {
    assertRewraps(updates);
    return this.#write(() =>
      updates.map((u) => Number(this.#q(SQL.rewrapKey).run(u.wrappedKey, u.keyId, u.ref.app, u.ref.env, u.ref.name, u.ref.version, u.oldKeyId).changes) === 1));
  }

  putPolicy(p: PolicyRecord): Promise<void> {
    return this.#changed(this.#write(() => {
      this.#q(SQL.putPolicy).run(p.name, p.document, p.updatedAt, p.updatedBy);
    }), { kind: 'policy' });
  }

  listPolicies(): Promise<PolicyRecord[]> {
    return this.#read(() => this.#q(SQL.listPolicies).all().map(policy));
  }

  deletePolicy(name: string): Promise<boolean> {
    return this.#changed(this.#write(() => this.#q(SQL.deletePolicy).run(name).changes > 0), { kind: 'policy' });
  }

  /** @throws WardError ERR_API_CONFLICT when the serial is already recorded. */
  recordCertificate(c: CertificateRecord): Promise<void> {
    if (!CERT_ROLES.has(c.role)) throw new TypeError('role must be admin, workload or server');
    return this.#changed(this.#write(() => {
      try {
        this.#q(SQL.insertCertificate).run(
          c.serial, c.name, c.spiffeId, c.app, c.env, c.role, c.notBefore, c.notAfter, c.fingerprint, c.issuedAt, c.revokedAt,
        );
      } catch (e) {
        if (isDuplicateKey(e)) throw new WardError('ERR_API_CONFLICT', `certificate serial ${c.serial} already recorded`, { cause: e });
        throw e;
      }
    }), { kind: 'cert' });
  }

  listCertificates(query: ListCertificatesQuery = {}): Promise<Page<CertificateRecord>> {
    const limit = clampLimit(query.limit);
    return this.#read(() => {
      const after = query.cursor == null ? null : decodeCertificateCursor(query.cursor);
      const rows = after === null
        ? this.#q(SQL.listCertificates).all(limit + 1)
        : this.#q(SQL.listCertificatesAfter).all(after.issuedAt, after.serial, limit + 1);
      return certificatePage(rows.map(certificate), limit);
    });
  }

  /** By serial first, else by name (the most recently issued certificate of that name). */
  getCertificate(serialOrName: string): Promise<CertificateRecord | null> {
    return this.#read(() => this.#findCertificate(serialOrName));
  }

  #findCertificate(serialOrName: string): CertificateRecord | null {
    const row = this.#q(SQL.certBySerial).get(serialOrName) ?? this.#q(SQL.certByName).get(serialOrName);
    return row === undefined ? null : certificate(row);
  }

  /**
   * By serial: that certificate. By name: every certificate of that name, so reissued ones cannot
   * outlive the revocation; returns the newest. A second revocation keeps the first time.
   */
  revokeCertificate(serialOrName: string, at: number): Promise<CertificateRecord | null> {
    return this.#changed(this.#write(() => {
      const bySerial = this.#q(SQL.revokeSerial).run(at, serialOrName).changes > 0;
      if (!bySerial) this.#q(SQL.revokeName).run(at, serialOrName);
      return this.#findCertificate(serialOrName);
    }), { kind: 'cert' });
  }

  revokedSerials(): Promise<Set<string>> {
    return this.#read(() => new Set(this.#q(SQL.revokedSerials).all().map((r) => str(r.serial))));
  }

  appendAudit(entries: AuditInput[]): Promise<AuditRecord[]> {
    try {
      this.#assertOpen();
      entries.forEach(assertAuditInput);
    } catch (e) {
      return Promise.reject(e);
    }
    if (entries.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      // copy: the caller may reuse its objects before the flush
      this.#auditQueue.push({ entries: entries.map((e) => ({ ...e })), resolve, reject });
      if (!this.#auditScheduled) {
        this.#auditScheduled = true;
        // if the store closed meanwhile, #locked refuses and #commitAudit rejects what is queued
        setImmediate(() => void this.#locked(() => this.#commitAudit()).catch(() => this.#commitAudit()));
      }
    });
  }

  /**
   * Commits every append queued so far in one transaction (group commit), in call order, then
   * answers each caller. Appends queued while the flush waited for the lock join it. The caller
   * holds the write lock, or the store is closed (then the queue is refused).
   */
  async #commitAudit(): Promise<void> {
    const batch = this.#auditQueue;
    this.#auditQueue = [];
    this.#auditScheduled = false;
    if (batch.length === 0) return;
    let results: AuditRecord[][];
    try {
      this.#assertOpen();
      results = await this.#tx(() => {
        const lastRow = this.#q(SQL.lastAudit).get();
        let last: AuditAnchor = lastRow === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: num(lastRow.seq), hash: str(lastRow.hash) };
        const chained = batch.map((job) => {
          const records = chainAuditRecords(last, job.entries);
          last = records.at(-1) ?? last;
          return records;
        });
        // Full groups of AUDIT_ROWS_PER_INSERT rows in one statement each, the rest one by one.
        const all = chained.flat();
        const params: (string | number | null)[] = [];
        let i = 0;
        for (; i + AUDIT_ROWS_PER_INSERT <= all.length; i += AUDIT_ROWS_PER_INSERT) {
          params.length = 0;
          for (let j = i; j < i + AUDIT_ROWS_PER_INSERT; j++) params.push(...auditRow(all[j]!));
          this.#q(SQL.insertAuditRows).run(...params);
        }
        for (; i < all.length; i++) this.#q(SQL.insertAudit).run(...auditRow(all[i]!));
        return chained;
      });
    } catch (e) {
      for (const job of batch) job.reject(e);
      return;
    }
    this.stats.auditCommits += 1;
    this.stats.auditRecords += results.reduce((n, records) => n + records.length, 0);
    batch.forEach((job, i) => job.resolve(results[i] ?? []));
  }

  readAudit(after: number, limit: number): Promise<AuditRecord[]> {
    if (!Number.isSafeInteger(after) || !Number.isSafeInteger(limit) || limit < 0) throw new TypeError('after and limit must be integers');
    return this.#read(() => this.#q(SQL.readAudit).all(after, limit).map(auditRecord));
  }

  /** @throws WardError ERR_API_CONFLICT when a token with the same hash exists. */
  putToken(t: EnrolmentToken): Promise<void> {
    assertSegments(t.app, t.env);
    return this.#write(() => {
      try {
        this.#q(SQL.putToken).run(t.hash, t.app, t.env, JSON.stringify(t.cidrs), t.expiresAt, t.createdAt, t.createdBy, t.usedAt);
      } catch (e) {
        if (isDuplicateKey(e)) throw new WardError('ERR_API_CONFLICT', 'enrolment token already exists', { cause: e });
        throw e;
      }
    });
  }

  consumeToken(hash: string, now: number): Promise<EnrolmentToken | null> {
    return this.#write(() => {
      const row = this.#q(SQL.consumeToken).get(now, hash, now);
      return row === undefined ? null : token(row);
    });
  }

  findToken(hash: string): Promise<EnrolmentToken | null> {
    return this.#read(() => {
      const row = this.#q(SQL.findToken).get(hash);
      return row === undefined ? null : token(row);
    });
  }

  addRecipient(r: RecipientRecord): Promise<boolean> {
    assertRecipient(r);
    return this.#write(() => Number(this.#q(SQL.addRecipient).run(r.app, r.env, r.id, r.kind, r.key, r.createdAt, r.createdBy).changes) === 1);
  }

  listRecipients(app: string, env: string): Promise<RecipientRecord[]> {
    assertSegments(app, env);
    return this.#read(() => this.#q(SQL.listRecipients).all(app, env).map(recipient));
  }

  removeRecipient(app: string, env: string, id: string): Promise<boolean> {
    assertSegments(app, env);
    return this.#write(() => Number(this.#q(SQL.removeRecipient).run(app, env, id).changes) === 1);
  }

  initServerKey(k: ServerKeyRecord): Promise<ServerKeyRecord> {
    assertServerKey(k);
    return this.#write(() => {
      this.#q(SQL.initServerKey).run(k.name, k.ciphertext, k.wrappedKey, k.keyId, k.publicKey, k.createdAt);
      return serverKey(this.#q(SQL.getServerKey).get(k.name)!);
    });
  }

  getServerKey(name: string): Promise<ServerKeyRecord | null> {
    return this.#read(() => {
      const row = this.#q(SQL.getServerKey).get(name);
      return row === undefined ? null : serverKey(row);
    });
  }

  rewrapServerKey(name: string, fromKeyId: string, e: Pick<ServerKeyRecord, 'ciphertext' | 'wrappedKey' | 'keyId'>): Promise<boolean> {
    assertServerKey({ name, ...e, publicKey: 'unchanged', createdAt: 0 });
    return this.#write(() => Number(this.#q(SQL.rewrapServerKey).run(e.ciphertext, e.wrappedKey, e.keyId, name, fromKeyId).changes) === 1);
  }
}

/** Creates the file (mode 0600) if missing and tightens an existing one. */
function prepareFile(path: string): void {
  if (path === ':memory:' || path === '') return;
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
}

function tightenCompanions(path: string): void {
  if (path === ':memory:' || path === '') return;
  for (const suffix of ['-wal', '-shm']) {
    try {
      chmodSync(path + suffix, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/**
 * Opens (creating if needed) the SQLite store at `path` and, unless `migrate: false`, brings its
 * schema up to date.
 *
 * @throws WardError ERR_STORE_SCHEMA_TOO_NEW, ERR_STORE_CORRUPT, ERR_STORE_UNAVAILABLE
 */
export async function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const busyTimeout = opts.busyTimeoutMs ?? 5000;
  const sealTimeout = opts.sealTimeoutMs ?? 30_000;
  if (!Number.isSafeInteger(busyTimeout) || busyTimeout < 0) throw new TypeError('busyTimeoutMs must be a non-negative integer');
  if (!Number.isSafeInteger(sealTimeout) || sealTimeout <= 0) throw new TypeError('sealTimeoutMs must be a positive integer');
  let db: DatabaseSync | undefined;
  try {
    prepareFile(path);
    db = new DatabaseSync(path, { timeout: busyTimeout, enableForeignKeyConstraints: true });
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA secure_delete = ON');
    // the WAL never shrinks on its own: cut it back to 64 MiB after each checkpoint
    db.exec('PRAGMA journal_size_limit = 67108864');
    db.exec('PRAGMA foreign_keys = ON');
    tightenCompanions(path);
    const store = new SqliteStore(path, db, opts.now ?? Date.now, sealTimeout);
    store.checkSchemaVersion();
    if (opts.migrate !== false) await store.migrate();
    tightenCompanions(path);
    return store;
  } catch (e) {
    try {
      db?.close();
    } catch {
      // already unusable
    }
    if (e instanceof WardError || e instanceof TypeError) throw e;
    const mapped = storeError(e);
    if (mapped !== e) throw mapped;
    throw new WardError('ERR_STORE_UNAVAILABLE', 'database cannot be opened', { cause: e });
  }
}
