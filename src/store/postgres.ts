/**
 * The shared store: PostgreSQL through `pg` (node-postgres), for several stateless `ward server`
 * replicas on one database. Same contract and same tests as the SQLite store (src/store/types.ts).
 *
 * Durability: a promise resolves only after COMMIT returned, and PostgreSQL's default
 * `synchronous_commit = on` flushes the WAL first (keep it on; with synchronous replication, a
 * commit is also on the standby).
 *
 * Concurrency, across connections and replicas alike (no in-process lock is relied on):
 * - putSecret locks the secret row with an upsert (`ON CONFLICT DO UPDATE … RETURNING`, inserting a
 *   placeholder when the secret is new, and waiting for a concurrent insert of the same key); the version
 *   check, `seal` and the insert of version current + 1 happen under that lock, so writers of one
 *   secret take turns and check-and-set sees every committed version. Writers of other secrets,
 *   and audit appends, are not held up by a slow `seal` (on SQLite they are: one writer at a time).
 * - The audit chain is one sequence: each append transaction takes a transaction-scoped advisory
 *   lock ({@link AUDIT_LOCK}), reads the last (seq, hash) and inserts after it. Group commit: appends
 *   made while a flush is running (or in the same turn) are queued and committed together in call
 *   order, one transaction and one WAL flush per batch; one flush at a time per process.
 * - Tokens are consumed by one conditional `UPDATE … RETURNING`: of concurrent callers one wins.
 *
 * Change notification: every write transaction that changes a secret, policy or certificate runs
 * `pg_notify('ward_changes', {kind, app, env})` before COMMIT, so it is delivered only if the write
 * commits, to every replica's {@link PostgresStore.subscribe} listener (one dedicated connection).
 */
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import { WardError } from '../errors.ts';
import { assertAuditInput, chainAuditRecords, GENESIS_HASH } from './audit-chain.ts';
import type { AuditAnchor } from './audit-chain.ts';
import { SCHEMA_VERSION } from './migrations.ts';
import { certificatePage, clampLimit, decodeCertificateCursor, encodeCursor } from './paging.ts';
import { assertSegments, formatSecretPath } from './paths.ts';
import { PG_MIGRATIONS } from './postgres-migrations.ts';
import { assertKek, assertKeyArgs, assertRewraps, kekRow, wrappedKeyRow } from './sqlite.ts';
import type { KekRow, RewrapUpdate, WrappedKeyRow } from './types.ts';
import {
  assertRecipient, assertSealed, assertServerKey, auditRecord, CERT_ROLES, certificate, listSecretsSql, policy, recipient, secretMeta, serverKey, token,
  version, versionMeta, VERSION_ROW,
} from './sqlite.ts';
import type {
  AuditInput,
  AuditRecord,
  CertificateRecord,
  EnrolmentToken,
  ListCertificatesQuery,
  ListSecretsQuery,
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
} from './types.ts';
import { withSealTimeout } from './seal-timeout.ts';

export interface PostgresStoreOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long putSecret waits for `seal` while holding the secret's row lock (default 30000 ms). */
  sealTimeoutMs?: number;
  /** How long to wait for a connection (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Clock for created/updated/deleted times (default Date.now); tests pin it. */
  now?: () => number;
}

type SealedFields = Omit<NewSecretVersion, keyof SecretRef>;
type Listener = (event: StoreChange) => void;

/** The advisory lock key that serialises audit appends across every connection and replica. */
export const AUDIT_LOCK = 0x77617264_61756474n; // "wardaudt"
/** The advisory lock key held while migrating, so two replicas starting at once do not race. */
const MIGRATE_LOCK = 0x77617264_6d696772n; // "wardmigr"
export const NOTIFY_CHANNEL = 'ward_changes';
/** The longest pause between attempts to re-establish the LISTEN connection. */
const LISTEN_BACKOFF_MAX_MS = 5_000;

// Rows come back shaped as node:sqlite's (bigint → number, boolean → 1/0, bytea → Buffer), so the
// SQLite store's row mappers serve both backends.
const INT8 = 20;
const BOOL = 16;
export const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return (v: string) => Number(v);
    if (oid === BOOL) return (v: string) => (v === 't' ? 1 : 0);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  },
} as const;

/** SQLSTATE classes and codes that mean something to Ward. */
function pgCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const isDuplicateKey = (e: unknown) => pgCode(e) === '23505';

/** Maps PostgreSQL and connection failures onto Ward's codes; anything else passes through. */
export function pgStoreError(e: unknown): unknown {
  if (e instanceof WardError || e instanceof TypeError) return e;
  const code = pgCode(e);
  if (code === undefined) {
    // node-postgres' own connection failures carry no code
    if (e instanceof Error && /connection terminated|timeout exceeded when trying to connect|connection error|not queryable/i.test(e.message)) {
      return new WardError('ERR_STORE_UNAVAILABLE', 'connection to the database server was lost', { cause: e });
    }
    return e;
  }
  if (/^E[A-Z]+$/.test(code) || code.startsWith('08') || code.startsWith('57P') || code === '53300' || code === '28P01' || code === '3D000') {
    return new WardError('ERR_STORE_UNAVAILABLE', 'database server cannot be reached or refused the connection', {
      cause: e,
      hint: 'check the database url, that postgresql is running, and its credentials',
    });
  }
  if (code === '53100') return new WardError('ERR_IO', 'database server cannot write: disk full', { cause: e });
  if (code === 'XX001' || code === 'XX002') return new WardError('ERR_STORE_CORRUPT', 'database reports damaged data', { cause: e });
  return e;
}

/** `?` placeholders (the SQLite statements) to `$1, $2, …`. */
const numbered = (sql: string) => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

const VERSION_FROM = `FROM secrets s JOIN secret_versions v ON v.app = s.app AND v.env = s.env AND v.name = s.name`;

export const PG_SQL = {
  // Locks the secret's row, first inserting a placeholder (version 0, never committed as such) when
  // there is none; a concurrent insert of the same key makes this wait for that one to finish.
  lockSecret: `INSERT INTO secrets AS s (app, env, name, current_version, kind, sealed, created_at, updated_at)
    VALUES ($1, $2, $3, 0, 'env', false, 0, 0)
    ON CONFLICT (app, env, name) DO UPDATE SET current_version = s.current_version RETURNING current_version`,
  // the whole write in one statement (one round trip while the row is locked)
  writeVersion: `WITH s AS (
      UPDATE secrets SET current_version = $4, kind = $5, sealed = $6, updated_at = $12, deleted_at = NULL,
        created_at = CASE WHEN current_version = 0 THEN $12 ELSE created_at END
      WHERE app = $1 AND env = $2 AND name = $3
    ), v AS (
      INSERT INTO secret_versions (app, env, name, version, ciphertext, wrapped_key, key_id, format, kind, sealed, created_by, created_at)
      VALUES ($1, $2, $3, $4, $7, $8, $9, $10, $5, $6, $11, $12)
    ), r AS (
      INSERT INTO env_revisions (app, env, revision) VALUES ($1, $2, 1)
      ON CONFLICT (app, env) DO UPDATE SET revision = env_revisions.revision + 1
    )
    SELECT pg_notify($13, $14)`,
  currentVersion: 'SELECT current_version FROM secrets WHERE app = $1 AND env = $2 AND name = $3',
  bumpRevision: `INSERT INTO env_revisions (app, env, revision) VALUES ($1, $2, 1)
    ON CONFLICT (app, env) DO UPDATE SET revision = env_revisions.revision + 1`,
  notify: 'SELECT pg_notify($1, $2)',
  envRevision: 'SELECT revision FROM env_revisions WHERE app = $1 AND env = $2',
  latestKek: 'SELECT * FROM keks WHERE app = $1 AND env = $2 ORDER BY version DESC LIMIT 1',
  getKek: 'SELECT * FROM keks WHERE app = $1 AND env = $2 AND version = $3',
  insertKek: `INSERT INTO keks (app, env, version, master_key_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (app, env, version) DO NOTHING`,
  tombstoneKek: `UPDATE keks SET wrapped = ''::bytea WHERE app = $1 AND env = $2 AND version = $3 AND octet_length(wrapped) > 0`,
  listKeks: `SELECT app, env, version, master_key_id, ''::bytea AS wrapped, created_at FROM keks ORDER BY app, env, version`,
  keyUsage: `SELECT app, env, key_id, count(*)::bigint AS n FROM secret_versions WHERE destroyed_at IS NULL
    GROUP BY app, env, key_id ORDER BY app, env, key_id COLLATE "C"`,
  keyUsageOf: `SELECT app, env, key_id, count(*)::bigint AS n FROM secret_versions WHERE app = $1 AND env = $2 AND destroyed_at IS NULL
    GROUP BY app, env, key_id ORDER BY key_id COLLATE "C"`,
  wrappedKeys: `SELECT name, version, format, wrapped_key, key_id FROM secret_versions
    WHERE app = $1 AND env = $2 AND key_id = $3 AND destroyed_at IS NULL ORDER BY name, version LIMIT $4`,
  wrappedKeysAfter: `SELECT name, version, format, wrapped_key, key_id FROM secret_versions
    WHERE app = $1 AND env = $2 AND key_id = $3 AND (name, version) > ($4, $5) AND destroyed_at IS NULL ORDER BY name, version LIMIT $6`,
  rewrapKey: `UPDATE secret_versions SET wrapped_key = $1, key_id = $2
    WHERE app = $3 AND env = $4 AND name = $5 AND version = $6 AND key_id = $7 AND destroyed_at IS NULL`,
  getLatest: `SELECT ${VERSION_ROW} ${VERSION_FROM} AND v.version = s.current_version
    WHERE s.app = $1 AND s.env = $2 AND s.name = $3 AND s.deleted_at IS NULL`,
  getVersion: `SELECT ${VERSION_ROW} ${VERSION_FROM}
    WHERE s.app = $1 AND s.env = $2 AND s.name = $3 AND s.deleted_at IS NULL AND v.version = $4`,
  getEnv: `SELECT ${VERSION_ROW} ${VERSION_FROM} AND v.version = s.current_version
    WHERE s.app = $1 AND s.env = $2 AND s.deleted_at IS NULL AND v.destroyed_at IS NULL ORDER BY s.name`,
  secretMeta: 'SELECT * FROM secrets WHERE app = $1 AND env = $2 AND name = $3',
  history: `SELECT app, env, name, version, key_id, format, kind, sealed, created_by, created_at, destroyed_at
    FROM secret_versions WHERE app = $1 AND env = $2 AND name = $3 ORDER BY version`,
  softDelete: 'UPDATE secrets SET deleted_at = $1, updated_at = $1 WHERE app = $2 AND env = $3 AND name = $4 AND deleted_at IS NULL',
  undelete: 'UPDATE secrets SET deleted_at = NULL, updated_at = $1 WHERE app = $2 AND env = $3 AND name = $4 AND deleted_at IS NOT NULL',
  destroyAll: `UPDATE secret_versions SET ciphertext = '', wrapped_key = '', destroyed_at = $1
    WHERE app = $2 AND env = $3 AND name = $4 AND destroyed_at IS NULL`,
  destroySome: `UPDATE secret_versions SET ciphertext = '', wrapped_key = '', destroyed_at = $1
    WHERE app = $2 AND env = $3 AND name = $4 AND destroyed_at IS NULL AND version = ANY($5::bigint[])`,
  putPolicy: `INSERT INTO policies (name, document, updated_at, updated_by) VALUES ($1, $2, $3, $4)
    ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  listPolicies: 'SELECT * FROM policies ORDER BY name',
  deletePolicy: 'DELETE FROM policies WHERE name = $1',
  insertCertificate: `INSERT INTO certificates (serial, name, spiffe_id, app, env, role, not_before, not_after, fingerprint, issued_at, revoked_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
  listCertificates: 'SELECT * FROM certificates ORDER BY issued_at, serial LIMIT $1',
  listCertificatesAfter: 'SELECT * FROM certificates WHERE (issued_at, serial) > ($1, $2) ORDER BY issued_at, serial LIMIT $3',
  certBySerial: 'SELECT * FROM certificates WHERE serial = $1',
  certByName: 'SELECT * FROM certificates WHERE name = $1 ORDER BY issued_at DESC, serial DESC LIMIT 1',
  revokeSerial: 'UPDATE certificates SET revoked_at = coalesce(revoked_at, $1) WHERE serial = $2',
  revokeName: 'UPDATE certificates SET revoked_at = coalesce(revoked_at, $1) WHERE name = $2',
  revokedSerials: 'SELECT serial FROM certificates WHERE revoked_at IS NOT NULL',
  advisoryLock: 'SELECT pg_advisory_xact_lock($1)',
  lastAudit: 'SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1',
  // one statement per batch, whatever its size
  insertAudit: `INSERT INTO audit (seq, time, identity, serial, source, operation, path, outcome, detail, prev_hash, hash)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`,
  readAudit: 'SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2',
  putToken: 'INSERT INTO tokens (hash, app, env, cidrs, expires_at, created_at, created_by, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
  consumeToken: 'UPDATE tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING *',
  findToken: 'SELECT * FROM tokens WHERE hash = $1',
  addRecipient: `INSERT INTO recipients (app, env, id, kind, key, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (app, env, id) DO NOTHING`,
  listRecipients: 'SELECT * FROM recipients WHERE app = $1 AND env = $2 ORDER BY id',
  removeRecipient: 'DELETE FROM recipients WHERE app = $1 AND env = $2 AND id = $3',
  initServerKey: `INSERT INTO server_keys (name, ciphertext, wrapped_key, key_id, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (name) DO NOTHING`,
  getServerKey: 'SELECT * FROM server_keys WHERE name = $1',
  rewrapServerKey: 'UPDATE server_keys SET ciphertext = $1, wrapped_key = $2, key_id = $3 WHERE name = $4 AND key_id = $5',
  hasMigration: 'SELECT 1 FROM schema_migrations WHERE version = $1',
} as const;

interface AuditJob {
  entries: AuditInput[];
  resolve: (records: AuditRecord[]) => void;
  reject: (e: unknown) => void;
}

type Queryable = Pick<PoolClient, 'query'>;

export class PostgresStore implements Store {
  /** Counters for metrics (and for the group-commit test). */
  readonly stats = { auditCommits: 0, auditRecords: 0 };
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #now: () => number;
  readonly #sealTimeoutMs: number;
  #closed = false;
  #auditQueue: AuditJob[] = [];
  #auditScheduled = false;
  #auditFlush: Promise<void> | null = null;
  readonly #listeners = new Set<Listener>();
  #listenClient: pg.Client | null = null;
  #listenRetry: NodeJS.Timeout | undefined;
  #listenBackoffMs = 250;

  /** Use {@link openPostgresStore}. */
  constructor(url: string, pool: pg.Pool, now: () => number, sealTimeoutMs: number) {
    this.#url = url;
    this.#pool = pool;
    this.#now = now;
    this.#sealTimeoutMs = sealTimeoutMs;
  }

  #assertOpen(): void {
    if (this.#closed) throw new WardError('ERR_STORE_UNAVAILABLE', 'store is closed');
  }

  async #query<R extends QueryResultRow>(sql: string, values: unknown[] = [], c: Queryable = this.#pool): Promise<R[]> {
    return (await c.query<R>(sql, values)).rows;
  }

  /**
   * The reads of the request path (batch read, one secret, env revision) run as named statements:
   * each pooled connection parses and plans them once, not on every call. Planning was most of
   * their database time (bench/RESULTS.md, scale). A pooler in front of PostgreSQL must then keep
   * prepared statements per client (PgBouncer 1.21+: max_prepared_statements).
   */
  async #versions(query: 'getEnv' | 'getLatest' | 'getVersion', app: string, env: string, ...params: unknown[]): Promise<SecretVersion[]> {
    const res = await this.#pool.query<unknown[]>({ name: `ward_${query}`, text: PG_SQL[query], values: [app, env, ...params], rowMode: 'array' });
    return res.rows.map((r) => version(app, env, r));
  }

  /** One statement (or a read) on a pooled connection, failures mapped. */
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await fn();
    } catch (e) {
      throw pgStoreError(e);
    }
  }

  /** BEGIN, `fn`, COMMIT on one connection; ROLLBACK when anything fails. */
  async #tx<T>(fn: (c: PoolClient) => Promise<T>, whileClosing = false): Promise<T> {
    if (!whileClosing) this.#assertOpen();
    let c: PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (e) {
      throw pgStoreError(e);
    }
    let broken: Error | undefined;
    // a connection that dies between two statements (e.g. while `seal` runs) reports it as an
    // 'error' event, which would crash the process without a listener; the next statement fails
    const onError = (err: Error) => void (broken = err);
    c.on('error', onError);
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (e) {
      try {
        await c.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is unusable: the pool drops it
      }
      throw pgStoreError(e);
    } finally {
      c.removeListener('error', onError);
      c.release(broken);
    }
  }

  async #notify(c: Queryable, event: StoreChange): Promise<void> {
    await c.query(PG_SQL.notify, [NOTIFY_CHANNEL, JSON.stringify(event)]);
  }

  /** The schema version recorded in the database (0 when empty). */
  async schemaVersion(c: Queryable = this.#pool): Promise<number> {
    const has = await this.#query<{ t: string | null }>("SELECT to_regclass('schema_migrations') AS t", [], c);
    if (has[0]?.t == null) return 0;
    const rows = await this.#query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations', [], c);
    return rows[0]?.v ?? 0;
  }

  /** @throws WardError ERR_STORE_SCHEMA_TOO_NEW when a newer Ward migrated the database. */
  async checkSchemaVersion(c: Queryable = this.#pool): Promise<number> {
    const v = await this.schemaVersion(c);
    if (v > SCHEMA_VERSION) {
      throw new WardError('ERR_STORE_SCHEMA_TOO_NEW', `database schema version ${v} is newer than this ward supports (${SCHEMA_VERSION})`, {
        hint: 'run the ward version that last migrated this database, or a newer one',
      });
    }
    return v;
  }

  /** Applies each pending migration in its own transaction, under an advisory lock (replicas may start together). */
  async migrate(): Promise<void> {
    for (const m of PG_MIGRATIONS) {
      await this.#tx(async (c) => {
        await c.query(PG_SQL.advisoryLock, [MIGRATE_LOCK.toString()]);
        await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL)');
        // by version, not by the highest one: migrations made side by side may land out of order
        await this.checkSchemaVersion(c);
        if ((await this.#query(PG_SQL.hasMigration, [m.version], c)).length > 0) return;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, this.#now()]);
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // appends already accepted are committed before the pool closes
    while (this.#auditFlush !== null || this.#auditQueue.length > 0) {
      if (this.#auditFlush === null) this.#startAuditFlush();
      await this.#auditFlush;
    }
    this.#stopListening();
    this.#listeners.clear();
    await this.#pool.end();
  }

  putSecret(ref: SecretRef & { cas?: number }, seal: (version: number) => Promise<SealedFields> | SealedFields): Promise<SecretVersion> {
    const { app, env, name, cas } = ref;
    assertSegments(app, env, name);
    if (cas !== undefined && !(Number.isSafeInteger(cas) && cas >= 0)) throw new TypeError('cas must be a non-negative integer');
    const conflict = (current: number) =>
      new WardError('ERR_API_CONFLICT', `version conflict on ${formatSecretPath(ref)}: current version is ${current}, not ${cas}`, {
        hint: 'read the secret again and retry with its current version',
      });
    const precheck = cas === undefined ? Promise.resolve() : this.#run(async () => {
      // fail fast, without a transaction or queueing for the row lock: committed versions only
      // grow, so a committed version other than cas already decides (repeated under the lock)
      const seen = (await this.#query<{ current_version: number }>(PG_SQL.currentVersion, [app, env, name]))[0]?.current_version ?? 0;
      if (seen !== cas) throw conflict(seen);
    });
    return precheck.then(() => this.#tx(async (c) => {
      const row = (await this.#query<{ current_version: number }>(PG_SQL.lockSecret, [app, env, name], c))[0];
      const current = row?.current_version ?? 0;
      if (cas !== undefined && cas !== current) throw conflict(current);
      const next = current + 1;
      const sealed = await withSealTimeout(seal(next), this.#sealTimeoutMs);
      assertSealed(sealed);
      const now = this.#now();
      await c.query(PG_SQL.writeVersion, [
        app, env, name, next, sealed.kind, sealed.sealed, sealed.ciphertext, sealed.wrappedKey, sealed.keyId, sealed.format,
        sealed.createdBy, now, NOTIFY_CHANNEL, JSON.stringify({ kind: 'secret', app, env }),
      ]);
      return {
        app, env, name, version: next,
        ciphertext: sealed.ciphertext, wrappedKey: sealed.wrappedKey, keyId: sealed.keyId, format: sealed.format,
        kind: sealed.kind, sealed: sealed.sealed, createdBy: sealed.createdBy, createdAt: now, destroyedAt: null,
      };
    }));
  }

  getSecret(ref: SecretRef, v?: number): Promise<SecretVersion | null> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#run(async () => {
      const { app, env, name } = ref;
      if (v !== undefined && !Number.isSafeInteger(v)) return null;
      const rows = v === undefined
        ? await this.#versions('getLatest', app, env, name)
        : await this.#versions('getVersion', app, env, name, v);
      return rows[0] ?? null;
    });
  }

  getEnv(app: string, env: string): Promise<SecretVersion[]> {
    assertSegments(app, env);
    return this.#run(() => this.#versions('getEnv', app, env));
  }

  listSecrets(query: ListSecretsQuery): Promise<Page<SecretMeta>> {
    if (query.app !== undefined) assertSegments(query.app);
    if (query.env !== undefined) assertSegments(query.env);
    const limit = clampLimit(query.limit);
    return this.#run(async () => {
      const q = listSecretsSql(query, limit + 1);
      if (q === null) return { items: [], next: null };
      const rows = await this.#query(numbered(q.sql), q.params);
      const items = rows.slice(0, limit).map(secretMeta);
      const last = items.at(-1);
      return { items, next: rows.length > limit && last !== undefined ? encodeCursor(last) : null };
    });
  }

  getSecretMeta(ref: SecretRef): Promise<SecretMeta | null> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#run(async () => {
      const row = (await this.#query(PG_SQL.secretMeta, [ref.app, ref.env, ref.name]))[0];
      return row === undefined ? null : secretMeta(row);
    });
  }

  history(ref: SecretRef): Promise<SecretVersionMeta[]> {
    assertSegments(ref.app, ref.env, ref.name);
    return this.#run(async () => (await this.#query(PG_SQL.history, [ref.app, ref.env, ref.name])).map(versionMeta));
  }

  /** Runs `sql` (which changes the secret's rows) and, if it changed any, bumps the revision and notifies. */
  #changeSecret(ref: SecretRef, sql: string, values: unknown[]): Promise<number> {
    return this.#tx(async (c) => {
      const n = (await c.query(sql, values)).rowCount ?? 0;
      if (n > 0) {
        await c.query(PG_SQL.bumpRevision, [ref.app, ref.env]);
        await this.#notify(c, { kind: 'secret', app: ref.app, env: ref.env });
      }
      return n;
    });
  }

  async softDelete(ref: SecretRef): Promise<boolean> {
    assertSegments(ref.app, ref.env, ref.name);
    return (await this.#changeSecret(ref, PG_SQL.softDelete, [this.#now(), ref.app, ref.env, ref.name])) > 0;
  }

  async undelete(ref: SecretRef): Promise<boolean> {
    assertSegments(ref.app, ref.env, ref.name);
    return (await this.#changeSecret(ref, PG_SQL.undelete, [this.#now(), ref.app, ref.env, ref.name])) > 0;
  }

  /**
   * Overwrites the sealed bytes with empty values and sets `destroyedAt`. PostgreSQL keeps the old
   * row versions until VACUUM reuses their space (docs/operations.md).
   */
  destroy(ref: SecretRef, versions?: number[]): Promise<number> {
    assertSegments(ref.app, ref.env, ref.name);
    if (versions !== undefined && !versions.every((v) => Number.isSafeInteger(v))) throw new TypeError('versions must be integers');
    const now = this.#now();
    return versions === undefined
      ? this.#changeSecret(ref, PG_SQL.destroyAll, [now, ref.app, ref.env, ref.name])
      : this.#changeSecret(ref, PG_SQL.destroySome, [now, ref.app, ref.env, ref.name, versions]);
  }

  envRevision(app: string, env: string): Promise<number> {
    assertSegments(app, env);
    return this.#run(async () => {
      const res = await this.#pool.query<{ revision: number }>({ name: 'ward_envRevision', text: PG_SQL.envRevision, values: [app, env] });
      return res.rows[0]?.revision ?? 0;
    });
  }

  latestKek(app: string, env: string): Promise<KekRow | null> {
    assertSegments(app, env);
    return this.#run(async () => {
      const row = (await this.#query(PG_SQL.latestKek, [app, env]))[0];
      return row === undefined ? null : kekRow(row);
    });
  }

  getKek(app: string, env: string, version: number): Promise<KekRow | null> {
    assertSegments(app, env);
    if (!Number.isSafeInteger(version)) return Promise.resolve(null);
    return this.#run(async () => {
      const row = (await this.#query(PG_SQL.getKek, [app, env, version]))[0];
      return row === undefined ? null : kekRow(row);
    });
  }

  insertKek(k: KekRow): Promise<boolean> {
    assertKek(k);
    return this.#run(async () => (await this.#pool.query(PG_SQL.insertKek, [k.app, k.env, k.version, k.masterKeyId, k.wrapped, k.createdAt])).rowCount === 1);
  }

  tombstoneKek(app: string, env: string, version: number): Promise<boolean> {
    assertSegments(app, env);
    if (!Number.isSafeInteger(version)) throw new TypeError('version must be an integer');
    return this.#run(async () => (await this.#pool.query(PG_SQL.tombstoneKek, [app, env, version])).rowCount === 1);
  }

  listKeks(): Promise<KekRow[]> {
    return this.#run(async () => (await this.#query(PG_SQL.listKeks)).map(kekRow));
  }

  keyUsage(scope?: { app: string; env: string }): Promise<{ app: string; env: string; keyId: string; count: number }[]> {
    if (scope) assertSegments(scope.app, scope.env);
    return this.#run(async () => {
      const rows = await this.#query<{ app: string; env: string; key_id: string; n: number }>(scope ? PG_SQL.keyUsageOf : PG_SQL.keyUsage, scope ? [scope.app, scope.env] : []);
      return rows.map((r) => ({ app: r.app, env: r.env, keyId: r.key_id, count: r.n }));
    });
  }

  wrappedKeys(app: string, env: string, keyId: string, after: { name: string; version: number } | null, limit: number): Promise<WrappedKeyRow[]> {
    assertSegments(app, env);
    assertKeyArgs(keyId, after, limit);
    return this.#run(async () => {
      const rows = after === null
        ? await this.#query(PG_SQL.wrappedKeys, [app, env, keyId, limit])
        : await this.#query(PG_SQL.wrappedKeysAfter, [app, env, keyId, after.name, after.version, limit]);
      return rows.map((r) => wrappedKeyRow(app, env, r));
    });
  }

  rewrapKeys(updates: RewrapUpdate[]): Promise<boolean[]> {
    assertRewraps(updates);
    return this.#tx(async (c) => {
      const done: boolean[] = [];
      for (const u of updates) done.push((await c.query(PG_SQL.rewrapKey, [u.wrappedKey, u.keyId, u.ref.app, u.ref.env, u.ref.name, u.ref.version, u.oldKeyId])).rowCount === 1);
      return done;
    });
  }

  putPolicy(p: PolicyRecord): Promise<void> {
    return this.#tx(async (c) => {
      await c.query(PG_SQL.putPolicy, [p.name, p.document, p.updatedAt, p.updatedBy]);
      await this.#notify(c, { kind: 'policy' });
    });
  }

  listPolicies(): Promise<PolicyRecord[]> {
    return this.#run(async () => (await this.#query(PG_SQL.listPolicies)).map(policy));
  }

  deletePolicy(name: string): Promise<boolean> {
    return this.#tx(async (c) => {
      const deleted = ((await c.query(PG_SQL.deletePolicy, [name])).rowCount ?? 0) > 0;
      if (deleted) await this.#notify(c, { kind: 'policy' });
      return deleted;
    });
  }

  recordCertificate(c: CertificateRecord): Promise<void> {
    if (!CERT_ROLES.has(c.role)) throw new TypeError('role must be admin, workload or server');
    return this.#tx(async (db) => {
      try {
        await db.query(PG_SQL.insertCertificate, [
          c.serial, c.name, c.spiffeId, c.app, c.env, c.role, c.notBefore, c.notAfter, c.fingerprint, c.issuedAt, c.revokedAt,
        ]);
      } catch (e) {
        if (isDuplicateKey(e)) throw new WardError('ERR_API_CONFLICT', `certificate serial ${c.serial} already recorded`, { cause: e });
        throw e;
      }
      await this.#notify(db, { kind: 'cert' });
    });
  }

  listCertificates(query: ListCertificatesQuery = {}): Promise<Page<CertificateRecord>> {
    const limit = clampLimit(query.limit);
    return this.#run(async () => {
      const after = query.cursor == null ? null : decodeCertificateCursor(query.cursor);
      const rows = after === null
        ? await this.#query(PG_SQL.listCertificates, [limit + 1])
        : await this.#query(PG_SQL.listCertificatesAfter, [after.issuedAt, after.serial, limit + 1]);
      return certificatePage(rows.map(certificate), limit);
    });
  }

  getCertificate(serialOrName: string): Promise<CertificateRecord | null> {
    return this.#run(() => this.#findCertificate(this.#pool, serialOrName));
  }

  async #findCertificate(c: Queryable, serialOrName: string): Promise<CertificateRecord | null> {
    const row = (await this.#query(PG_SQL.certBySerial, [serialOrName], c))[0] ?? (await this.#query(PG_SQL.certByName, [serialOrName], c))[0];
    return row === undefined ? null : certificate(row);
  }

  revokeCertificate(serialOrName: string, at: number): Promise<CertificateRecord | null> {
    return this.#tx(async (c) => {
      const bySerial = ((await c.query(PG_SQL.revokeSerial, [at, serialOrName])).rowCount ?? 0) > 0;
      const byName = bySerial ? 0 : (await c.query(PG_SQL.revokeName, [at, serialOrName])).rowCount ?? 0;
      if (bySerial || byName > 0) await this.#notify(c, { kind: 'cert' });
      return this.#findCertificate(c, serialOrName);
    });
  }

  revokedSerials(): Promise<Set<string>> {
    return this.#run(async () => new Set((await this.#query<{ serial: string }>(PG_SQL.revokedSerials)).map((r) => r.serial)));
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
      if (this.#auditFlush === null && !this.#auditScheduled) {
        this.#auditScheduled = true;
        setImmediate(() => {
          this.#auditScheduled = false;
          if (this.#auditFlush === null) this.#startAuditFlush();
        });
      }
    });
  }

  /** Starts one flush; when it ends, the appends queued meanwhile are flushed next (one at a time). */
  #startAuditFlush(): void {
    this.#auditFlush = this.#commitAudit().finally(() => {
      this.#auditFlush = null;
      if (this.#auditQueue.length > 0 && !this.#auditScheduled) this.#startAuditFlush();
    });
  }

  /** Commits every queued append in one transaction (group commit), in call order, then answers each caller. */
  async #commitAudit(): Promise<void> {
    const batch = this.#auditQueue;
    this.#auditQueue = [];
    if (batch.length === 0) return;
    let results: AuditRecord[][];
    try {
      results = await this.#tx(async (c) => {
        await c.query(PG_SQL.advisoryLock, [AUDIT_LOCK.toString()]);
        const lastRow = (await this.#query<{ seq: number; hash: string }>(PG_SQL.lastAudit, [], c))[0];
        let last: AuditAnchor = lastRow === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: lastRow.seq, hash: lastRow.hash };
        const out = batch.map((job) => {
          const records = chainAuditRecords(last, job.entries);
          last = records.at(-1) ?? last;
          return records;
        });
        const flat = out.flat();
        const col = <K extends keyof AuditRecord>(k: K) => flat.map((r) => r[k] ?? null);
        await c.query(PG_SQL.insertAudit, [
          col('seq'), col('time'), col('identity'), col('serial'), col('source'), col('operation'), col('path'),
          col('outcome'), col('detail'), col('prevHash'), col('hash'),
        ]);
        return out;
      }, true); // close() flushes the appends it accepted
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
    return this.#run(async () => (await this.#query(PG_SQL.readAudit, [after, limit])).map(auditRecord));
  }

  putToken(t: EnrolmentToken): Promise<void> {
    assertSegments(t.app, t.env);
    return this.#run(async () => {
      try {
        await this.#pool.query(PG_SQL.putToken, [t.hash, t.app, t.env, JSON.stringify(t.cidrs), t.expiresAt, t.createdAt, t.createdBy, t.usedAt]);
      } catch (e) {
        if (isDuplicateKey(e)) throw new WardError('ERR_API_CONFLICT', 'enrolment token already exists', { cause: e });
        throw e;
      }
    });
  }

  consumeToken(hash: string, now: number): Promise<EnrolmentToken | null> {
    return this.#run(async () => {
      const row = (await this.#query(PG_SQL.consumeToken, [now, hash]))[0];
      return row === undefined ? null : token(row);
    });
  }

  findToken(hash: string): Promise<EnrolmentToken | null> {
    return this.#run(async () => {
      const row = (await this.#query(PG_SQL.findToken, [hash]))[0];
      return row === undefined ? null : token(row);
    });
  }

  addRecipient(r: RecipientRecord): Promise<boolean> {
    assertRecipient(r);
    return this.#run(async () => (await this.#pool.query(PG_SQL.addRecipient, [r.app, r.env, r.id, r.kind, r.key, r.createdAt, r.createdBy])).rowCount === 1);
  }

  listRecipients(app: string, env: string): Promise<RecipientRecord[]> {
    assertSegments(app, env);
    return this.#run(async () => (await this.#query(PG_SQL.listRecipients, [app, env])).map(recipient));
  }

  removeRecipient(app: string, env: string, id: string): Promise<boolean> {
    assertSegments(app, env);
    return this.#run(async () => (await this.#pool.query(PG_SQL.removeRecipient, [app, env, id])).rowCount === 1);
  }

  initServerKey(k: ServerKeyRecord): Promise<ServerKeyRecord> {
    assertServerKey(k);
    return this.#run(async () => {
      await this.#pool.query(PG_SQL.initServerKey, [k.name, k.ciphertext, k.wrappedKey, k.keyId, k.publicKey, k.createdAt]);
      return serverKey((await this.#query(PG_SQL.getServerKey, [k.name]))[0]!);
    });
  }

  getServerKey(name: string): Promise<ServerKeyRecord | null> {
    return this.#run(async () => {
      const row = (await this.#query(PG_SQL.getServerKey, [name]))[0];
      return row === undefined ? null : serverKey(row);
    });
  }

  rewrapServerKey(name: string, fromKeyId: string, e: Pick<ServerKeyRecord, 'ciphertext' | 'wrappedKey' | 'keyId'>): Promise<boolean> {
    assertServerKey({ name, ...e, publicKey: 'unchanged', createdAt: 0 });
    return this.#run(async () => (await this.#pool.query(PG_SQL.rewrapServerKey, [e.ciphertext, e.wrappedKey, e.keyId, name, fromKeyId])).rowCount === 1);
  }

  /**
   * Calls `onChange` after every committed change of a secret, policy or certificate made by any
   * replica on this database (LISTEN/NOTIFY on one dedicated connection). When that connection is
   * (re)established, and so right after subscribing, it also sends one event of each kind without
   * app/env, meaning "anything of this kind may have changed": reload, since notifications sent
   * while not listening are lost. Returns the unsubscribe function.
   */
  subscribe(onChange: Listener): () => void {
    this.#assertOpen();
    this.#listeners.add(onChange);
    if (this.#listenClient === null && this.#listenRetry === undefined) void this.#listen();
    return () => {
      this.#listeners.delete(onChange);
      if (this.#listeners.size === 0) this.#stopListening();
    };
  }

  #emit(event: StoreChange): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // a subscriber's failure is its own
      }
    }
  }

  async #listen(): Promise<void> {
    // the pool's connect timeout: a database that drops packets must not hold the reconnection up
    const client = new pg.Client({ connectionString: this.#url, types: PG_TYPES, connectionTimeoutMillis: this.#pool.options.connectionTimeoutMillis });
    this.#listenClient = client;
    const retry = () => {
      if (this.#listenClient !== client) return;
      this.#listenClient = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.#closed || this.#listeners.size === 0) return;
      this.#listenRetry = setTimeout(() => {
        this.#listenRetry = undefined;
        if (!this.#closed && this.#listeners.size > 0) void this.#listen();
      }, this.#listenBackoffMs);
      this.#listenRetry.unref();
      // capped low: until it listens again this replica misses other replicas' policy changes
      this.#listenBackoffMs = Math.min(this.#listenBackoffMs * 2, LISTEN_BACKOFF_MAX_MS);
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (msg) => {
      if (msg.channel !== NOTIFY_CHANNEL || msg.payload === undefined) return;
      try {
        this.#emit(JSON.parse(msg.payload) as StoreChange);
      } catch {
        // not ours
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch {
      retry();
      return;
    }
    if (this.#listenClient !== client) return;
    this.#listenBackoffMs = 250;
    for (const kind of ['secret', 'policy', 'cert'] as const) this.#emit({ kind });
  }

  #stopListening(): void {
    clearTimeout(this.#listenRetry);
    this.#listenRetry = undefined;
    const client = this.#listenClient;
    this.#listenClient = null;
    if (client !== null) {
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
    }
  }
}

/**
 * Connects to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`, libpq
 * parameters such as `sslmode` included) and, unless `migrate: false`, brings its schema up to date.
 *
 * @throws WardError ERR_STORE_UNAVAILABLE, ERR_STORE_SCHEMA_TOO_NEW
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) throw new TypeError('database url must start with postgres:// or postgresql://');
  const sealTimeout = opts.sealTimeoutMs ?? 30_000;
  const poolSize = opts.poolSize ?? 10;
  if (!Number.isSafeInteger(sealTimeout) || sealTimeout <= 0) throw new TypeError('sealTimeoutMs must be a positive integer');
  if (!Number.isSafeInteger(poolSize) || poolSize <= 0) throw new TypeError('poolSize must be a positive integer');
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000, types: PG_TYPES });
  // an idle connection dropped by the server: the next query reconnects (or fails, mapped)
  pool.on('error', () => undefined);
  const store = new PostgresStore(url, pool, opts.now ?? Date.now, sealTimeout);
  try {
    await store.checkSchemaVersion();
    if (opts.migrate !== false) await store.migrate();
    return store;
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw pgStoreError(e);
  }
}
