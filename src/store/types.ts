/**
 * The storage contract. The server talks to storage only through {@link Store}; the SQLite
 * implementation (embedded default) and the PostgreSQL one must behave identically, and the same
 * test suite runs against both.
 *
 * The store holds bytes, never plaintext: secret values arrive already sealed (AES-256-GCM under a
 * per-version data key, the data key wrapped by the master key). Envelope encryption and
 * authorization are the server's job; ordering, atomicity and durability are the store's.
 *
 * Times are milliseconds since the epoch. Paths are validated by the caller (see
 * src/store/paths.ts): APP, ENV and NAME match `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
 */

export interface SecretRef {
  app: string;
  env: string;
  name: string;
}

/** What the server hands the store for a new version. */
export interface NewSecretVersion extends SecretRef {
  /** nonce ‖ ciphertext ‖ tag, AES-256-GCM; associated data binds APP/ENV/NAME, version and format. */
  ciphertext: Buffer;
  /** The data key of this version, wrapped by the key provider. */
  wrappedKey: Buffer;
  /** Which master key (version) wrapped `wrappedKey`. */
  keyId: string;
  /** Version of the value format (the associated data includes it). */
  format: number;
  /** How the value is delivered by `ward run`: as an environment variable or as a file. */
  kind: 'env' | 'file';
  /** Zero-knowledge: the value is ciphertext for the app's own recipients; the server cannot read it. */
  sealed: boolean;
  /** SPIFFE ID (or name) of the identity that wrote it. */
  createdBy: string;
}

export interface SecretVersion extends NewSecretVersion {
  version: number;
  createdAt: number;
  /** Set when the version was destroyed: ciphertext and wrapped key are then empty. */
  destroyedAt: number | null;
}

/** Metadata of a version, without the sealed bytes (history, listings). */
export type SecretVersionMeta = Omit<SecretVersion, 'ciphertext' | 'wrappedKey'>;

export interface SecretMeta extends SecretRef {
  /** Highest version number ever written. */
  currentVersion: number;
  kind: 'env' | 'file';
  sealed: boolean;
  createdAt: number;
  updatedAt: number;
  /** Soft-deleted secrets are invisible to reads and lists until undeleted. */
  deletedAt: number | null;
}

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, or null on the last page. */
  next: string | null;
}

export interface ListSecretsQuery {
  app?: string;
  env?: string;
  /** Include soft-deleted secrets (admin listings). */
  includeDeleted?: boolean;
  cursor?: string | null;
  /** 1..1000; the store clamps it. */
  limit?: number;
}

export interface ListCertificatesQuery {
  cursor?: string | null;
  /** 1..1000; the store clamps it. */
  limit?: number;
}

/** A policy rule set, stored as the JSON the operator wrote (validated by the server). */
export interface PolicyRecord {
  name: string;
  /** JSON document of the policy (rules, IP lists). */
  document: string;
  updatedAt: number;
  updatedBy: string;
}

export interface CertificateRecord {
  /** Lowercase hex serial number. */
  serial: string;
  name: string;
  spiffeId: string;
  app: string;
  env: string;
  role: 'admin' | 'workload' | 'server';
  notBefore: number;
  notAfter: number;
  /** SHA-256 of the DER certificate, lowercase hex. */
  fingerprint: string;
  issuedAt: number;
  revokedAt: number | null;
}

export interface AuditInput {
  time: number;
  /** SPIFFE ID of the caller, or '-' when there is none (a refused handshake never reaches here). */
  identity: string;
  /** Serial of the caller's certificate, or '-'. */
  serial: string;
  /** Source address of the connection. */
  source: string;
  /** Operation, e.g. 'secret.read', 'secret.write', 'policy.set'. */
  operation: string;
  /** APP/ENV/NAME or another resource path; never a value. */
  path: string;
  /** 'granted', 'denied', 'error', 'not-found', 'conflict', ... */
  outcome: string;
  /** Optional extra detail without secrets (error code, version, deciding rule). */
  detail?: string;
}

export interface AuditRecord extends AuditInput {
  /** 1, 2, 3, … with no gaps. */
  seq: number;
  /** Hex SHA-256 of the previous record (64 zeros for the first). */
  prevHash: string;
  /** Hex SHA-256 over prevHash and the canonical encoding of this record. */
  hash: string;
}

/**
 * A key encryption key version of APP/ENV (src/keys/hierarchy.ts, KekRecord): 32 random bytes
 * wrapped by the master key. `wrapped` is empty once the version was destroyed (a tombstone, so
 * version numbers are never reused).
 */
export interface KekRow {
  app: string;
  env: string;
  version: number;
  masterKeyId: string;
  wrapped: Buffer;
  createdAt: number;
}

/** One re-wrapped data key to store (Store.rewrapKeys). */
export interface RewrapUpdate {
  ref: SecretRef & { version: number };
  oldKeyId: string;
  wrappedKey: Buffer;
  keyId: string;
}

/** A stored data key, what key rotation reads and re-wraps (the value itself is not touched). */
export interface WrappedKeyRow extends SecretRef {
  version: number;
  format: number;
  wrappedKey: Buffer;
  keyId: string;
}

export interface EnrolmentToken {
  /** SHA-256 of the token, hex: the token itself is never stored. */
  hash: string;
  app: string;
  env: string;
  cidrs: string[];
  expiresAt: number;
  createdAt: number;
  createdBy: string;
  usedAt: number | null;
}

/**
 * A public key a sealed secret of APP/ENV is encrypted to (`ward recipients`, zero-knowledge mode).
 * The server only stores these; sealing happens on the operator's machine.
 */
export interface RecipientRecord {
  app: string;
  env: string;
  /**
   * What names the recipient: the `age1…` string itself, or `pgp:` and the OpenPGP primary key's
   * fingerprint (lowercase hex). Unique per APP/ENV.
   */
  id: string;
  kind: 'age' | 'pgp';
  /** The key: the `age1…` string, or the ASCII-armored OpenPGP public key. */
  key: string;
  createdAt: number;
  createdBy: string;
}

/**
 * A key of the server itself (its age identity for configuration sealed to it), stored as an
 * envelope under the master key so every replica shares it and only an unsealed server opens it.
 */
export interface ServerKeyRecord {
  name: string;
  /** nonce ‖ AES-256-GCM ciphertext ‖ tag of the private key, under a data key. */
  ciphertext: Buffer;
  /** The data key, wrapped by the key provider. */
  wrappedKey: Buffer;
  keyId: string;
  /** The public half (not secret), so it can be shown without unwrapping. */
  publicKey: string;
  createdAt: number;
}

/**
 * A committed change, for caches and watchers (Store.subscribe). `app`/`env` name the environment of
 * a secret change; absent, anything of that kind may have changed (e.g. after the PostgreSQL
 * listener reconnected): reload.
 */
export interface StoreChange {
  kind: 'secret' | 'policy' | 'cert';
  app?: string;
  env?: string;
}

/**
 * Misuse (an invalid path segment, a non-integer cas or version list, a malformed audit entry) is a
 * TypeError, thrown or rejected. Store failures are WardError ERR_STORE_* (docs/errors.md).
 */
export interface Store {
  /** Applies pending migrations; idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Writes a new version atomically; the version number is chosen by the store (current + 1).
   * With `cas` set, the write succeeds only if the current version equals it (0: must not exist);
   * otherwise it throws WardError ERR_API_CONFLICT and changes nothing, without calling `seal`.
   * Version numbers are never reused: a soft-deleted secret keeps its current version for `cas`,
   * and writing to it undeletes it.
   *
   * `seal` is called exactly once, inside the transaction, with the version number the store
   * picked, so the associated data can bind it; it returns the sealed bytes. If it throws, nothing
   * is written.
   */
  putSecret(
    ref: SecretRef & { cas?: number },
    seal: (version: number) => Promise<Omit<NewSecretVersion, keyof SecretRef>> | Omit<NewSecretVersion, keyof SecretRef>,
  ): Promise<SecretVersion>;
  /**
   * One version (latest when omitted). Null when absent, soft-deleted or the version is unknown.
   * A destroyed version is returned with `destroyedAt` set and empty ciphertext and wrapped key,
   * so the caller can say "destroyed" rather than "not found".
   */
  getSecret(ref: SecretRef, version?: number): Promise<SecretVersion | null>;
  /**
   * The latest live version of every secret of APP/ENV, sorted by name: soft-deleted secrets and
   * secrets whose latest version was destroyed are left out. One indexed query.
   */
  getEnv(app: string, env: string): Promise<SecretVersion[]>;
  /** Sorted by (app, env, name). A cursor not made by the store: WardError ERR_API_BAD_REQUEST. */
  listSecrets(query: ListSecretsQuery): Promise<Page<SecretMeta>>;
  /** Also for a soft-deleted secret (`deletedAt` set), so callers can tell deleted from absent. */
  getSecretMeta(ref: SecretRef): Promise<SecretMeta | null>;
  /** Metadata of every version, ascending (also of a soft-deleted secret); [] when unknown. */
  history(ref: SecretRef): Promise<SecretVersionMeta[]>;
  /** False when absent or already deleted. */
  softDelete(ref: SecretRef): Promise<boolean>;
  /** False when absent or not deleted. */
  undelete(ref: SecretRef): Promise<boolean>;
  /**
   * Erases the sealed bytes of the given versions (all when omitted); metadata stays. Returns how
   * many versions this call destroyed (already destroyed or unknown versions do not count).
   */
  destroy(ref: SecretRef, versions?: number[]): Promise<number>;
  /** Monotonic counter bumped by every secret change of APP/ENV, for watchers and caches. */
  envRevision(app: string, env: string): Promise<number>;

  /** The KEK of APP/ENV with the highest version (tombstones included), or null (KekStorage.latest). */
  latestKek(app: string, env: string): Promise<KekRow | null>;
  getKek(app: string, env: string, version: number): Promise<KekRow | null>;
  /** Inserts a KEK version; false (and nothing written) when that version exists already. */
  insertKek(kek: KekRow): Promise<boolean>;
  /** Empties `wrapped` of that version (crypto-shredding); false when absent or already empty. */
  tombstoneKek(app: string, env: string, version: number): Promise<boolean>;
  /** Every KEK version (tombstones included) sorted by app, env, version; `wrapped` left empty. */
  listKeks(): Promise<KekRow[]>;
  /**
   * How many live (not destroyed) secret versions each key id wraps, per APP/ENV; only APP/ENV's
   * when given. Sorted by app, env, key id.
   */
  keyUsage(scope?: { app: string; env: string }): Promise<{ app: string; env: string; keyId: string; count: number }[]>;
  /**
   * Up to `limit` live versions of APP/ENV whose data key `keyId` wraps, after (name, version) when
   * `after` is given, sorted by name and version: key rotation's batches.
   */
  wrappedKeys(app: string, env: string, keyId: string, after: { name: string; version: number } | null, limit: number): Promise<WrappedKeyRow[]>;
  /**
   * Replaces versions' wrapped data keys and key ids in one transaction, each only if its key id
   * is still `oldKeyId` and it is not destroyed (check-and-set: a concurrent destroy or re-wrap is
   * not clobbered); says which were replaced. Does not bump the env revision: values are unchanged.
   */
  rewrapKeys(updates: RewrapUpdate[]): Promise<boolean[]>;

  putPolicy(policy: PolicyRecord): Promise<void>;
  listPolicies(): Promise<PolicyRecord[]>;
  deletePolicy(name: string): Promise<boolean>;

  /** A serial already recorded: WardError ERR_API_CONFLICT. */
  recordCertificate(cert: CertificateRecord): Promise<void>;
  /**
   * One page ordered by (issue time, serial), 100 by default. A cursor not made by the store:
   * WardError ERR_API_BAD_REQUEST.
   */
  listCertificates(query?: ListCertificatesQuery): Promise<Page<CertificateRecord>>;
  /** By serial first, else by name (names can be reissued: the most recently issued one). */
  getCertificate(serialOrName: string): Promise<CertificateRecord | null>;
  /**
   * Marks it revoked; returns the record, or null when unknown. A name revokes every certificate
   * of that name (and returns the newest): reload {@link revokedSerials} after revoking by name.
   * Revoking again keeps the first `revokedAt`.
   */
  revokeCertificate(serialOrName: string, at: number): Promise<CertificateRecord | null>;
  /** Serials of all revoked certificates (the server keeps them in memory). */
  revokedSerials(): Promise<Set<string>>;

  /**
   * Appends records to the hash chain in order, durably (the returned promise resolves only once
   * the records are committed to stable storage). Concurrent callers are serialised so the chain
   * stays a single sequence.
   */
  appendAudit(entries: AuditInput[]): Promise<AuditRecord[]>;
  /** Records with seq > after, ascending, at most `limit`. */
  readAudit(after: number, limit: number): Promise<AuditRecord[]>;

  /** A token with the same hash: WardError ERR_API_CONFLICT. */
  putToken(token: EnrolmentToken): Promise<void>;
  /**
   * Marks the token used if it exists, is unused and unexpired (`now < expiresAt`); returns it,
   * with `usedAt` = now, else null. Atomic: of concurrent callers exactly one gets it.
   */
  consumeToken(hash: string, now: number): Promise<EnrolmentToken | null>;
  /**
   * The token with this hash, used or not, without changing it (to audit why a token was refused:
   * unknown, reused, expired). Optional: without it the reason is recorded as "invalid".
   */
  findToken?(hash: string): Promise<EnrolmentToken | null>;

  /** Registers a recipient of APP/ENV; false (and nothing changed) when that id is already there. */
  addRecipient(recipient: RecipientRecord): Promise<boolean>;
  /** The recipients of APP/ENV, sorted by id. */
  listRecipients(app: string, env: string): Promise<RecipientRecord[]>;
  /** False when APP/ENV has no recipient with that id. */
  removeRecipient(app: string, env: string, id: string): Promise<boolean>;

  /**
   * Stores `key` under its name unless one exists, and returns the one stored (this one, or the
   * one another replica stored first): replicas starting together converge on a single key.
   */
  initServerKey(key: ServerKeyRecord): Promise<ServerKeyRecord>;
  /** The stored key of that name, or null. */
  getServerKey(name: string): Promise<ServerKeyRecord | null>;
  /**
   * Replaces the envelope (ciphertext, wrapped key, key id) of the key `name` if it is still wrapped
   * by `fromKeyId` (a master key rotation moves it under the new master); the public key and
   * creation time stay. False, and nothing written, when absent or already moved.
   */
  rewrapServerKey(name: string, fromKeyId: string, envelope: Pick<ServerKeyRecord, 'ciphertext' | 'wrappedKey' | 'keyId'>): Promise<boolean>;

  /**
   * Calls `onChange` after each committed change of a secret, policy or certificate; returns the
   * unsubscribe function. PostgreSQL: changes by every replica on the database (LISTEN/NOTIFY).
   * SQLite: changes made in this process on the same file (other processes: poll envRevision).
   */
  subscribe?(onChange: (event: StoreChange) => void): () => void;
}
