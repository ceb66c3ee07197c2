/**
 * SQLite schema, as an ordered list of migrations.
 *
 * Each migration runs in its own transaction together with the `schema_migrations` row that records
 * it, so a crash leaves the schema either before or after a migration, never half-way. Migrations
 * are append-only: never edit one that has shipped, add the next version instead.
 *
 * Every table is keyed by its natural key (`WITHOUT ROWID` where rows are looked up by that key), so
 * the hot reads — getEnv(app, env), getSecret(app, env, name) — are single index range scans.
 */

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'secrets, versions, env revisions, policies, certificates, audit, tokens',
    sql: `
      CREATE TABLE secrets (
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        current_version INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('env', 'file')),
        sealed INTEGER NOT NULL CHECK (sealed IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER,
        PRIMARY KEY (app, env, name)
      ) WITHOUT ROWID;

      CREATE TABLE secret_versions (
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        ciphertext BLOB NOT NULL,
        wrapped_key BLOB NOT NULL,
        key_id TEXT NOT NULL,
        format INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('env', 'file')),
        sealed INTEGER NOT NULL CHECK (sealed IN (0, 1)),
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        destroyed_at INTEGER,
        PRIMARY KEY (app, env, name, version),
        FOREIGN KEY (app, env, name) REFERENCES secrets (app, env, name)
      ) WITHOUT ROWID;
      -- key rotation re-wraps by key_id
      CREATE INDEX secret_versions_key_id ON secret_versions (key_id);

      CREATE TABLE env_revisions (
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        revision INTEGER NOT NULL,
        PRIMARY KEY (app, env)
      ) WITHOUT ROWID;

      CREATE TABLE policies (
        name TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE certificates (
        serial TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spiffe_id TEXT NOT NULL,
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'workload', 'server')),
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX certificates_name ON certificates (name, issued_at);
      CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

      -- seq is the rowid: appends go to the end of the b-tree
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        identity TEXT NOT NULL,
        serial TEXT NOT NULL,
        source TEXT NOT NULL,
        operation TEXT NOT NULL,
        path TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );

      CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        cidrs TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        used_at INTEGER
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: 'key encryption keys per app and env (src/keys/hierarchy.ts); rotation reads data keys by scope and key id',
    sql: `
      CREATE TABLE keks (
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        master_key_id TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (app, env, version)
      ) WITHOUT ROWID;

      CREATE INDEX secret_versions_scope_key_id ON secret_versions (app, env, key_id, name, version);
    `,
  },
  // version 2 is the KEK table (key providers); recipients and server keys are independent of it
  {
    version: 3,
    description: 'recipients of sealed secrets, server keys',
    sql: `
      CREATE TABLE recipients (
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('age', 'pgp')),
        key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (app, env, id)
      ) WITHOUT ROWID;

      CREATE TABLE server_keys (
        name TEXT PRIMARY KEY,
        ciphertext BLOB NOT NULL,
        wrapped_key BLOB NOT NULL,
        key_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    description: 'certificates in listing order (issued_at, serial): keyset pages of GET /v1/certs',
    sql: `
      CREATE INDEX certificates_issued ON certificates (issued_at, serial);
    `,
  },
];

/** The newest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);
