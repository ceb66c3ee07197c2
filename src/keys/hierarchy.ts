/**
 * Per-application, per-environment key encryption keys (KEKs) between the master key and the
 * data keys:
 *
 *   master key (provider) ─wraps→ KEK (app, env, version) ─wraps→ data key ─seals→ value
 *
 * Each (app, env) scope has numbered KEK versions, 32 random bytes each, stored only wrapped by
 * the master key through a {@link KekStorage} (the server backs it with the store). So one
 * application's keys can be rotated (a new version; {@link KeyHierarchy.rewrap} moves data keys
 * to it) or destroyed (its data becomes undecryptable, nobody else's does) without touching the
 * master key or any other scope.
 *
 * Key id of a data key wrapped here: `<master key id>/<app>/<env>/kek<version>`, e.g.
 * `file:0123456789abcdef/payments/prod/kek2`. Ids without a `/` are master key ids: data keys
 * wrapped by the master directly (before the hierarchy); {@link KeyHierarchy.unwrap} still opens
 * them and {@link KeyHierarchy.rewrap} moves them under their scope's KEK.
 *
 * Layouts (AES-256-GCM, nonce 12 ‖ ciphertext ‖ tag 16):
 * - a KEK is wrapped with the master provider's own wrap(), associated data
 *   "ward/kek/v1" ‖ u16be(len app) ‖ app ‖ u16be(len env) ‖ env ‖ u32be(version);
 * - a data key under a KEK: 0x01 ‖ nonce ‖ ciphertext (32) ‖ tag, associated data
 *   "ward/dek-kek/v1" NUL ‖ key id ‖ NUL ‖ the record's associated data.
 *
 * A destroyed version stays in storage as a tombstone (empty `wrapped`), so version numbers are
 * never reused and a data key of a destroyed version fails with ERR_KEY_DESTROYED, not as tampering.
 */
import { KEY_BYTES, keyObject, newKey, openAesGcm, sealAesGcm } from '../crypto/aead.ts';
import type { KeyWrapper } from '../crypto/envelope.ts';
import { WardError } from '../errors.ts';
import type { KeyProvider } from './provider.ts';

export interface KekScope {
  app: string;
  env: string;
}

export interface KekRecord extends KekScope {
  /** 1, 2, ...: never reused within a scope. */
  version: number;
  /** The master key that wrapped this KEK. */
  masterKeyId: string;
  /** The KEK wrapped by the master key; empty once destroyed (a tombstone). */
  wrapped: Buffer;
  createdAt: number;
}

/**
 * Where wrapped KEKs live. The server implements it over its store (a table keyed by app, env,
 * version); {@link memoryKekStorage} is the in-memory one.
 */
export interface KekStorage {
  /** The record with the highest version of the scope (tombstones included), if any. */
  latest(scope: KekScope): Promise<KekRecord | undefined>;
  get(scope: KekScope, version: number): Promise<KekRecord | undefined>;
  /** Inserts a new record; false (and nothing written) when that version exists already. */
  insert(record: KekRecord): Promise<boolean>;
  /** Replaces the record's `wrapped` with an empty buffer. */
  tombstone(scope: KekScope, version: number): Promise<void>;
}

export function memoryKekStorage(): KekStorage & { records: Map<string, KekRecord> } {
  const records = new Map<string, KekRecord>();
  const k = (s: KekScope, v: number) => `${s.app}/${s.env}/${v}`;
  return {
    records,
    async latest(scope) {
      let best: KekRecord | undefined;
      for (const r of records.values()) if (r.app === scope.app && r.env === scope.env && (!best || r.version > best.version)) best = r;
      return best;
    },
    async get(scope, version) {
      return records.get(k(scope, version));
    },
    async insert(record) {
      if (records.has(k(record, record.version))) return false;
      records.set(k(record, record.version), { ...record, wrapped: Buffer.from(record.wrapped) });
      return true;
    },
    async tombstone(scope, version) {
      const r = records.get(k(scope, version));
      if (r) records.set(k(scope, version), { ...r, wrapped: Buffer.alloc(0) });
    },
  };
}

const KEK_LABEL = Buffer.from('ward/kek/v1');
const DEK_LABEL = Buffer.from('ward/dek-kek/v1\0');
const WRAP_VERSION = 0x01;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const KEY_ID = /^([^/]+)\/([^/]+)\/([^/]+)\/kek([1-9][0-9]{0,9})$/;
const MAX_VERSION = 0xffffffff;

function checkScope(scope: KekScope): void {
  if (!SEGMENT.test(scope.app) || !SEGMENT.test(scope.env)) throw new TypeError('app and env must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}');
}

function kekAad(scope: KekScope, version: number): Buffer {
  const app = Buffer.from(scope.app);
  const env = Buffer.from(scope.env);
  const out = Buffer.alloc(KEK_LABEL.length + 2 + app.length + 2 + env.length + 4);
  let off = KEK_LABEL.copy(out);
  off = out.writeUInt16BE(app.length, off);
  off += app.copy(out, off);
  off = out.writeUInt16BE(env.length, off);
  off += env.copy(out, off);
  out.writeUInt32BE(version, off);
  return out;
}

function dekAad(keyId: string, aad: Buffer): Buffer {
  return Buffer.concat([DEK_LABEL, Buffer.from(keyId), Buffer.of(0), aad]);
}

/** The key id of a data key wrapped by KEK `version` of `scope` (see the module comment). */
export function kekKeyId(masterKeyId: string, scope: KekScope, version: number): string {
  return `${masterKeyId}/${scope.app}/${scope.env}/kek${version}`;
}

/** Parses a hierarchy key id; undefined for a plain master key id (no `/`). */
export function parseKekKeyId(keyId: string): { masterKeyId: string; scope: KekScope; version: number } | undefined {
  if (!keyId.includes('/')) return undefined;
  const m = KEY_ID.exec(keyId);
  const version = Number(m?.[4]);
  if (!m || !SEGMENT.test(m[2]!) || !SEGMENT.test(m[3]!) || version > MAX_VERSION) {
    throw new WardError('ERR_CRYPTO_FORMAT', 'malformed key id');
  }
  return { masterKeyId: m[1]!, scope: { app: m[2]!, env: m[3]! }, version };
}

type Kek = ReturnType<typeof keyObject>;

/** A parsed hierarchy key id with what unwrap derives from it (no secret). */
interface KeyIdInfo {
  masterKeyId: string;
  scope: KekScope;
  version: number;
  /** Key of the KEK cache. */
  kekId: string;
  /** "ward/dek-kek/v1" NUL ‖ key id ‖ NUL: the data key's associated data without the record's. */
  prefix: Buffer;
}

/** Distinct key ids remembered (a few per scope: one per KEK version); the memo restarts when full. */
const KEY_ID_MEMO = 4096;

export interface KeyHierarchyOptions {
  /**
   * Former master keys, still able to open the KEKs they wrapped while their data keys are moved
   * (master key rotation: for each scope {@link KeyHierarchy.rotate}, {@link KeyHierarchy.rewrap}
   * its data keys, {@link KeyHierarchy.destroyVersion} the old versions). New KEKs always use
   * the current master.
   */
  previous?: KeyProvider[];
  /**
   * How long an unwrapped KEK (and a scope's current version) is trusted from memory before
   * storage is asked again, in ms: bounds how long another replica's rotation or destruction
   * takes to be seen here. Default 60 000. Destruction through this instance is immediate.
   */
  cacheMs?: number;
  now?: () => number;
}

export class KeyHierarchy {
  readonly #master: KeyProvider;
  readonly #masters: Map<string, KeyProvider>;
  readonly #storage: KekStorage;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #keks = new Map<string, { kek: Kek; masterKeyId: string; at: number }>();
  readonly #current = new Map<string, { version: number; at: number }>();
  readonly #ids = new Map<string, KeyIdInfo>();

  constructor(master: KeyProvider, storage: KekStorage, options: KeyHierarchyOptions = {}) {
    this.#master = master;
    this.#masters = new Map([...(options.previous ?? []), master].map((m) => [m.keyId, m]));
    this.#storage = storage;
    this.#cacheMs = options.cacheMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The master key provider under this hierarchy. */
  get master(): KeyProvider {
    return this.#master;
  }

  /** Seals the master key (and the former ones) and drops every unwrapped KEK from memory at once. */
  seal(): void {
    for (const m of this.#masters.values()) m.seal();
    this.#forget();
  }

  /** Whether this hierarchy holds the master key `keyId` (the current one or a former one). */
  holds(keyId: string): boolean {
    return this.#masters.has(keyId);
  }

  /**
   * Reopens the former master keys a {@link seal} closed (they unseal without a secret: `file`
   * reloads its file). The current master is unsealed through its own provider.
   */
  async reopenPrevious(): Promise<void> {
    for (const m of this.#masters.values()) if (m !== this.#master && m.sealed) await m.unseal();
  }

  #forget(): void {
    this.#keks.clear();
    this.#current.clear();
    this.#ids.clear();
  }

  #live(): void {
    if (this.#master.sealed) {
      // sealed behind our back (master.seal() directly): cached KEKs must not outlive it
      this.#forget();
      throw new WardError('ERR_KEY_SEALED', 'the master key is sealed', { hint: 'unseal it: ward operator unseal' });
    }
  }

  #fresh(at: number): boolean {
    return this.#now() - at < this.#cacheMs;
  }

  /** Creates the next KEK version of a scope; on a lost race with another writer, uses theirs. */
  async #create(scope: KekScope): Promise<number> {
    for (;;) {
      const latest = await this.#storage.latest(scope);
      const version = (latest?.version ?? 0) + 1;
      if (version > MAX_VERSION) throw new WardError('ERR_INTERNAL', `no KEK version left for ${scope.app}/${scope.env}`);
      const raw = newKey();
      try {
        const wrapped = await this.#master.wrap(raw, kekAad(scope, version));
        const record: KekRecord = { app: scope.app, env: scope.env, version, masterKeyId: this.#master.keyId, wrapped, createdAt: this.#now() };
        if (await this.#storage.insert(record)) {
          this.#keks.set(`${scope.app}/${scope.env}/${version}`, { kek: keyObject(raw), masterKeyId: record.masterKeyId, at: this.#now() });
          return version;
        }
      } finally {
        raw.fill(0);
      }
      const winner = await this.#storage.latest(scope);
      if (winner && winner.version === version && winner.wrapped.length > 0 && winner.masterKeyId === this.#master.keyId) return version;
    }
  }

  /**
   * The version new data keys of the scope are wrapped with. Creates one when the scope has none,
   * when its latest was destroyed, or when its latest is wrapped by a former master key.
   */
  async currentVersion(scope: KekScope): Promise<number> {
    checkScope(scope);
    this.#live();
    const id = `${scope.app}/${scope.env}`;
    const cached = this.#current.get(id);
    if (cached && this.#fresh(cached.at)) return cached.version;
    const latest = await this.#storage.latest(scope);
    const usable = latest && latest.wrapped.length > 0 && latest.masterKeyId === this.#master.keyId;
    const version = usable ? latest.version : await this.#create(scope);
    this.#current.set(id, { version, at: this.#now() });
    return version;
  }

  async #kek(scope: KekScope, version: number, id = `${scope.app}/${scope.env}/${version}`): Promise<{ kek: Kek; masterKeyId: string }> {
    this.#live();
    const cached = this.#keks.get(id);
    if (cached && this.#fresh(cached.at)) return cached;
    this.#keks.delete(id);
    const record = await this.#storage.get(scope, version);
    if (!record) throw new WardError('ERR_KEY_NOT_FOUND', `no key encryption key ${scope.app}/${scope.env} version ${version}`);
    if (record.wrapped.length === 0) {
      throw new WardError('ERR_KEY_DESTROYED', `key encryption key ${scope.app}/${scope.env} version ${version} was destroyed`);
    }
    const master = this.#masters.get(record.masterKeyId);
    if (!master) throw new WardError('ERR_KEY_NOT_FOUND', `key encryption key ${scope.app}/${scope.env} version ${version} is wrapped by master key ${record.masterKeyId}, which this server does not hold`);
    if (master.sealed) throw new WardError('ERR_KEY_SEALED', `master key ${master.keyId} is sealed`, { hint: 'unseal it: ward operator unseal' });
    const raw = await master.unwrap(record.wrapped, kekAad(scope, version), record.masterKeyId);
    let kek: Kek;
    try {
      if (raw.length !== KEY_BYTES) throw new WardError('ERR_CRYPTO_FORMAT', 'a key encryption key has the wrong size');
      kek = keyObject(raw);
    } finally {
      raw.fill(0);
    }
    const entry = { kek, masterKeyId: record.masterKeyId, at: this.#now() };
    this.#keks.set(id, entry);
    return entry;
  }

  async #wrapWith(scope: KekScope, version: number, dataKey: Buffer, aad: Buffer): Promise<{ wrappedKey: Buffer; keyId: string }> {
    const { kek, masterKeyId } = await this.#kek(scope, version);
    const keyId = kekKeyId(masterKeyId, scope, version);
    return { wrappedKey: Buffer.concat([Buffer.of(WRAP_VERSION), sealAesGcm(kek, dataKey, dekAad(keyId, aad))]), keyId };
  }

  /**
   * A {@link KeyWrapper} for one scope, bound to its current KEK version: give it to
   * sealEnvelope. Its unwrap opens any data key of the hierarchy (see {@link unwrap}).
   */
  async forScope(scope: KekScope): Promise<KeyWrapper> {
    const version = await this.currentVersion(scope);
    const keyId = kekKeyId((await this.#kek(scope, version)).masterKeyId, scope, version);
    return {
      keyId,
      wrap: async (dataKey, aad) => (await this.#wrapWith(scope, version, dataKey, aad)).wrappedKey,
      unwrap: (wrapped, aad, id) => this.unwrap(wrapped, aad, id),
    };
  }

  /**
   * Unwraps a data key wrapped by a KEK of this hierarchy, or directly by the master key.
   * @throws WardError ERR_CRYPTO_AUTH (tampered, moved), ERR_KEY_DESTROYED, ERR_KEY_NOT_FOUND,
   *   ERR_KEY_SEALED, ERR_CRYPTO_FORMAT
   */
  async unwrap(wrapped: Buffer, aad: Buffer, keyId: string): Promise<Buffer> {
    const parsed = this.#keyIdInfo(keyId);
    if (!parsed) return (this.#masters.get(keyId) ?? this.#master).unwrap(wrapped, aad, keyId);
    if (!this.#masters.has(parsed.masterKeyId)) {
      throw new WardError('ERR_KEY_NOT_FOUND', `data key belongs to master key ${parsed.masterKeyId}, this server holds ${[...this.#masters.keys()].join(', ')}`);
    }
    // a fresh cached KEK without a call (and a promise) through #kek, which checks the same things
    const hit = this.#keks.get(parsed.kekId);
    const { kek, masterKeyId } = hit && !this.#master.sealed && this.#fresh(hit.at) ? hit : await this.#kek(parsed.scope, parsed.version, parsed.kekId);
    if (masterKeyId !== parsed.masterKeyId) throw new WardError('ERR_KEY_NOT_FOUND', `key encryption key ${parsed.scope.app}/${parsed.scope.env} version ${parsed.version} is not wrapped by master key ${parsed.masterKeyId}`);
    if (wrapped[0] !== WRAP_VERSION) throw new WardError('ERR_CRYPTO_FORMAT', 'unknown wrapped key version');
    return openAesGcm(kek, wrapped.subarray(1), Buffer.concat([parsed.prefix, aad], parsed.prefix.length + aad.length));
  }

  /** {@link parseKekKeyId} once per key id (every data key of a KEK version shares it). */
  #keyIdInfo(keyId: string): KeyIdInfo | undefined {
    const known = this.#ids.get(keyId);
    if (known) return known;
    const parsed = parseKekKeyId(keyId);
    if (!parsed) return undefined;
    const info = { ...parsed, kekId: `${parsed.scope.app}/${parsed.scope.env}/${parsed.version}`, prefix: dekAad(keyId, Buffer.alloc(0)) };
    if (this.#ids.size >= KEY_ID_MEMO) this.#ids.clear();
    this.#ids.set(keyId, info);
    return info;
  }

  /**
   * Starts a new KEK version for the scope; data keys wrapped from now on use it. Old versions
   * keep opening their data keys until {@link destroyVersion}.
   * @returns the new version
   */
  async rotate(scope: KekScope): Promise<number> {
    checkScope(scope);
    this.#live();
    const version = await this.#create(scope);
    this.#current.set(`${scope.app}/${scope.env}`, { version, at: this.#now() });
    return version;
  }

  /**
   * Re-wraps a data key under the current KEK of its scope (the value is not re-encrypted). A
   * data key wrapped by the master key directly needs `scope` to say where it belongs.
   * @returns the new wrapped key and key id to store; the same ones when already current
   */
  async rewrap(wrapped: Buffer, aad: Buffer, keyId: string, scope?: KekScope): Promise<{ wrappedKey: Buffer; keyId: string }> {
    const parsed = parseKekKeyId(keyId);
    const target = parsed?.scope ?? scope;
    if (!target) throw new TypeError('rewrap of a master-wrapped data key needs its scope');
    if (parsed && scope && (scope.app !== parsed.scope.app || scope.env !== parsed.scope.env)) throw new TypeError('scope does not match the key id');
    const version = await this.currentVersion(target);
    if (parsed && parsed.version === version && parsed.masterKeyId === this.#master.keyId) return { wrappedKey: wrapped, keyId };
    const dataKey = await this.unwrap(wrapped, aad, keyId);
    try {
      return await this.#wrapWith(target, version, dataKey, aad);
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Destroys one KEK version: the data keys it wrapped can never be opened again. Rewrap them
   * first when rotating.
   */
  async destroyVersion(scope: KekScope, version: number): Promise<void> {
    checkScope(scope);
    if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) throw new TypeError('invalid KEK version');
    await this.#storage.tombstone(scope, version);
    this.#keks.delete(`${scope.app}/${scope.env}/${version}`);
    const current = this.#current.get(`${scope.app}/${scope.env}`);
    if (current?.version === version) this.#current.delete(`${scope.app}/${scope.env}`);
  }

  /**
   * Destroys every KEK version of the scope (crypto-shredding one application environment):
   * exactly its data keys become unwrappable. New writes start a fresh version.
   * @returns the number of versions destroyed
   */
  async destroy(scope: KekScope): Promise<number> {
    checkScope(scope);
    const latest = await this.#storage.latest(scope);
    let destroyed = 0;
    for (let v = 1; v <= (latest?.version ?? 0); v++) {
      const r = await this.#storage.get(scope, v);
      if (r && r.wrapped.length > 0) {
        await this.destroyVersion(scope, v);
        destroyed++;
      }
    }
    return destroyed;
  }
}
