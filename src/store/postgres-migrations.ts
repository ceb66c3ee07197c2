/**
 * PostgreSQL schema: the same migrations as src/store/migrations.ts (SQLite), with the same version
 * numbers and the same tables, columns and keys, in PostgreSQL's types. A test checks the two lists
 * carry the same versions; add a migration to both, never edit one that has shipped.
 *
 * Type mapping: INTEGER → bigint (times are milliseconds, and SQLite's integers are 64-bit, so
 * `ward migrate` copies every value as it is); BLOB → bytea; the 0/1 `sealed` flag → boolean; TEXT
 * → text. Key and sorted columns are `COLLATE "C"`, so they compare byte by byte as SQLite's BINARY
 * collation does whatever the cluster's locale: listings page and sort identically on both.
 */
import type { Migration } from './migrations.ts';

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'secrets, versions, env revisions, policies, certificates, audit, tokens',
    sql: `
      CREATE TABLE secrets (
        app text COLLATE "C" NOT NULL,
        env text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        current_version bigint NOT NULL,
        kind text NOT NULL CHECK (kind IN ('env', 'file')),
        sealed boolean NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        deleted_at bigint,
        PRIMARY KEY (app, env, name)
      );

      CREATE TABLE secret_versions (
        app text COLLATE "C" NOT NULL,
        env text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        version bigint NOT NULL CHECK (version >= 1),
        ciphertext bytea NOT NULL,
        wrapped_key bytea NOT NULL,
        key_id text NOT NULL,
        format bigint NOT NULL,
        kind text NOT NULL CHECK (kind IN ('env', 'file')),
        sealed boolean NOT NULL,
        created_by text NOT NULL,
        created_at bigint NOT NULL,
        destroyed_at bigint,
        PRIMARY KEY (app, env, name, version),
        FOREIGN KEY (app, env, name) REFERENCES secrets (app, env, name)
      );
      -- key rotation re-wraps by key_id
      CREATE INDEX secret_versions_key_id ON secret_versions (key_id);

      CREATE TABLE env_revisions (
        app text COLLATE "C" NOT NULL,
        env text COLLATE "C" NOT NULL,
        revision bigint NOT NULL,
        PRIMARY KEY (app, env)
      );

      CREATE TABLE policies (
        name text COLLATE "C" PRIMARY KEY,
        document text NOT NULL,
        updated_at bigint NOT NULL,
        updated_by text NOT NULL
      );

      CREATE TABLE certificates (
        serial text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        spiffe_id text NOT NULL,
        app text NOT NULL,
        env text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'workload', 'server')),
        not_before bigint NOT NULL,
        not_after bigint NOT NULL,
        fingerprint text NOT NULL,
        issued_at bigint NOT NULL,
        revoked_at bigint
      );
      CREATE INDEX certificates_name ON certificates (name, issued_at);
      CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

      -- seq is assigned under the audit advisory lock (see postgres.ts), never by a sequence
      CREATE TABLE audit (
        seq bigint PRIMARY KEY,
        time bigint NOT NULL,
        identity text NOT NULL,
        serial text NOT NULL,
        source text NOT NULL,
        operation text NOT NULL,
        path text NOT NULL,
        outcome text NOT NULL,
        detail text,
        prev_hash text NOT NULL,
        hash text NOT NULL
      );

      CREATE TABLE tokens (
        hash text COLLATE "C" PRIMARY KEY,
        app text NOT NULL,
        env text NOT NULL,
        cidrs text NOT NULL,
        expires_at bigint NOT NULL,
        created_at bigint NOT NULL,
        created_by text NOT NULL,
        used_at bigint
      );
    `,
  },
  {
    version: 2,
    description: 'key encryption keys per app and env (src/keys/hierarchy.ts); rotation reads data keys by scope and key id',
    sql: `
      CREATE TABLE keks (
        app text COLLATE "C" NOT NULL,
        env text COLLATE "C" NOT NULL,
        version bigint NOT NULL CHECK (version >= 1),
        master_key_id text NOT NULL,
        wrapped bytea NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (app, env, version)
      );

      CREATE INDEX secret_versions_scope_key_id ON secret_versions (app, env, key_id, name, version);
    `,
  },
  // version 2 is the KEK table (key providers); recipients and server keys are independent of it
  {
    version: 3,
    description: 'recipients of sealed secrets, server keys',
    sql: `
      CREATE TABLE recipients (
        app text COLLATE "C" NOT NULL,
        env text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        kind text NOT NULL CHECK (kind IN ('age', 'pgp')),
        key text NOT NULL,
        created_at bigint NOT NULL,
        created_by text NOT NULL,
        PRIMARY KEY (app, env, id)
      );

      CREATE TABLE server_keys (
        name text COLLATE "C" PRIMARY KEY,
        ciphertext bytea NOT NULL,
        wrapped_key bytea NOT NULL,
        key_id text NOT NULL,
        public_key text NOT NULL,
        created_at bigint NOT NULL
      );
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
