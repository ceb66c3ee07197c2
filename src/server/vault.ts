/**
 * Secret values at rest (docs/formats.md, "Secret values at rest").
 *
 * Each version is sealed by envelope encryption (src/crypto/envelope.ts) under a fresh data key
 * wrapped by the key encryption key (KEK) of its APP/ENV, which the master key wraps
 * (src/keys/hierarchy.ts, docs/keys.md). Data keys wrapped directly by the master key (written
 * before KEKs existed) still open. Format version 1: the plaintext is the value's bytes as given;
 * the associated data is
 *
 *   "ward/secret/v1" ‖ u16be(len app) ‖ app ‖ u16be(len env) ‖ env ‖ u16be(len name) ‖ name
 *                    ‖ u32be(version) ‖ u16be(format)
 *
 * (strings UTF-8; in practice ASCII, as paths match `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`). The
 * encoding is injective, so a ciphertext (or wrapped key) copied to another row — another path,
 * version or format — fails authentication (ERR_CRYPTO_AUTH) instead of yielding another value.
 *
 * Unwrapping a data key costs an AES-GCM operation under the KEK plus key set-up; a batch read of
 * 20 secrets does 20 of them. Unwrapped data keys are therefore kept as KeyObjects in a bounded
 * LRU keyed by (key id, wrapped key, associated data). Trade-off: a data key stays in memory after
 * use (until evicted, `cacheMs` passes — the server uses the KEK cache time, 60 s —, {@link Vault.clear},
 * or the server stops) instead of being zeroed at once.
 * The master key, which opens every data key, is in the same process memory while the server is
 * unsealed, so an attacker able to read that memory gains nothing new; the cache never holds
 * plaintext values and is dropped when the server is sealed, when a KEK is destroyed, and on
 * {@link Vault.close}.
 *
 * Key rotation re-wraps a row's data key while reads go on: a read that fetched the row before the
 * re-wrap and unwraps after the old KEK version was destroyed gets ERR_KEY_DESTROYED; with
 * `reload` the vault reads the row again and, when its key id changed, opens that instead.
 */
import { keyObject, openAesGcm } from '../crypto/aead.ts';
import { sealEnvelope, type KeyWrapper } from '../crypto/envelope.ts';
import { isWardError, WardError } from '../errors.ts';
import type { KekRecord, KekStorage } from '../keys/hierarchy.ts';
import type { Store } from '../store/types.ts';

export const SECRET_FORMAT = 1;
const LABEL = Buffer.from('ward/secret/v1');

export interface ValueRef {
  app: string;
  env: string;
  name: string;
  version: number;
  format: number;
}

/** The associated data of a secret value (see the top of this file). */
export function secretAad(ref: ValueRef): Buffer {
  // one allocation, strings written in place (this runs for every value read)
  const lengths = [Buffer.byteLength(ref.app, 'utf8'), Buffer.byteLength(ref.env, 'utf8'), Buffer.byteLength(ref.name, 'utf8')] as const;
  let size = LABEL.length + 6;
  for (const n of lengths) {
    if (n > 0xffff) throw new TypeError('path segment too long');
    size += 2 + n;
  }
  if (!Number.isInteger(ref.version) || ref.version < 1 || ref.version > 0xffffffff) throw new TypeError('invalid version');
  if (!Number.isInteger(ref.format) || ref.format < 0 || ref.format > 0xffff) throw new TypeError('invalid format');
  const out = Buffer.allocUnsafe(size);
  let off = LABEL.copy(out, 0);
  off = out.writeUInt16BE(lengths[0], off);
  off += out.write(ref.app, off, 'utf8');
  off = out.writeUInt16BE(lengths[1], off);
  off += out.write(ref.env, off, 'utf8');
  off = out.writeUInt16BE(lengths[2], off);
  off += out.write(ref.name, off, 'utf8');
  off = out.writeUInt32BE(ref.version, off);
  out.writeUInt16BE(ref.format, off);
  return out;
}

export interface SealedValue {
  ciphertext: Buffer;
  wrappedKey: Buffer;
  keyId: string;
  format: number;
}

type DataKey = ReturnType<typeof keyObject>;

/** What the vault wraps data keys with: a KeyHierarchy (per APP/ENV KEKs), or one wrapper for every scope. */
export interface ScopedKeys {
  forScope(scope: { app: string; env: string }): Promise<KeyWrapper>;
  unwrap(wrapped: Buffer, aad: Buffer, keyId: string): Promise<Buffer>;
}

export interface VaultOptions {
  cacheEntries?: number;
  /**
   * How long an unwrapped data key is reused, in ms (default: forever). The server passes the KEK
   * cache time, so a KEK destroyed through another replica stops opening values here within it.
   */
  cacheMs?: number;
  now?: () => number;
  /** Reads a row again (see the top of this file); null when it is gone. */
  reload?: (ref: Omit<ValueRef, 'format'>) => Promise<SealedValue | null>;
}

export interface Vault {
  seal(ref: Omit<ValueRef, 'format'>, plaintext: Buffer): Promise<SealedValue>;
  /**
   * @throws WardError ERR_CRYPTO_AUTH when the row was tampered with or moved, ERR_CRYPTO_FORMAT
   *   for an unknown format or a destroyed version, ERR_KEY_DESTROYED when its KEK was destroyed,
   *   ERR_KEY_SEALED while the master key is sealed
   */
  open(ref: Omit<ValueRef, 'format'>, sealed: SealedValue): Promise<Buffer>;
  /** Unwrapped data keys held now (metrics, tests). */
  cacheSize(): number;
  /** Drops every unwrapped data key (seal, KEK destruction). */
  clear(): void;
  close(): void;
}

/** The KEK table of the store as the hierarchy's KekStorage. */
export function storeKekStorage(store: Store): KekStorage {
  const record = (r: KekRecord | null) => r ?? undefined;
  return {
    latest: async (scope) => record(await store.latestKek(scope.app, scope.env)),
    get: async (scope, version) => record(await store.getKek(scope.app, scope.env, version)),
    insert: (r) => store.insertKek({ app: r.app, env: r.env, version: r.version, masterKeyId: r.masterKeyId, wrapped: r.wrapped, createdAt: r.createdAt }),
    tombstone: async (scope, version) => {
      await store.tombstoneKek(scope.app, scope.env, version);
    },
  };
}

/**
 * The store with putSecret preceded by making sure APP/ENV has a current KEK: putSecret calls
 * `seal` inside its write transaction, where creating the scope's first KEK (a store write) would
 * wait for that very transaction (SQLite's one writer) until the seal timeout.
 */
export function creatingKeks(store: Store, keys: { currentVersion(scope: { app: string; env: string }): Promise<number> }): Store {
  const putSecret: Store['putSecret'] = async (ref, seal) => {
    await keys.currentVersion({ app: ref.app, env: ref.env });
    return store.putSecret(ref, seal);
  };
  // each method bound once (this sits on the hot read path), again if the store hands out another
  const bound = new Map<string | symbol, { from: unknown; fn: unknown }>();
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'putSecret') return putSecret;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const hit = bound.get(prop);
      if (hit?.from === value) return hit.fn;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      bound.set(prop, { from: value, fn });
      return fn;
    },
  });
}

export function createVault(keys: ScopedKeys | KeyWrapper, options: VaultOptions = {}): Vault {
  const max = options.cacheEntries ?? 10_000;
  const ttl = options.cacheMs ?? Infinity;
  const now = options.now ?? Date.now;
  // Keyed by the wrapped key's bytes (latin1: one char per byte, so distinct bytes never share a
  // key). An entry is used only when the key id and the record it was unwrapped for match too;
  // the record's fields (app, env, name, version, format) determine its associated data
  // (secretAad is injective), so the cache binds (key id, wrapped key, associated data) as the
  // unwrap does, without encoding them into one string on every read.
  const cache = new Map<string, { key: DataKey; keyId: string; app: string; env: string; name: string; version: number; format: number; at: number }>();
  const scoped: ScopedKeys = 'forScope' in keys ? keys : { forScope: async () => keys, unwrap: (w, aad, id) => keys.unwrap(w, aad, id) };

  const cached = (id: string, ref: ValueRef, keyId: string): DataKey | undefined => {
    const hit = cache.get(id);
    if (!hit || hit.keyId !== keyId || hit.app !== ref.app || hit.env !== ref.env || hit.name !== ref.name || hit.version !== ref.version || hit.format !== ref.format) {
      return undefined;
    }
    if (now() - hit.at >= ttl) {
      cache.delete(id);
      return undefined;
    }
    // Map iteration order is insertion order: re-inserting makes this the most recent.
    cache.delete(id);
    cache.set(id, hit);
    return hit.key;
  };

  const unwrapped = async (id: string, ref: ValueRef, sealed: SealedValue, aad: Buffer): Promise<DataKey> => {
    const raw = await scoped.unwrap(sealed.wrappedKey, aad, sealed.keyId);
    let key: DataKey;
    try {
      key = keyObject(raw);
    } finally {
      raw.fill(0);
    }
    if (max > 0) {
      cache.delete(id);
      cache.set(id, { key, keyId: sealed.keyId, app: ref.app, env: ref.env, name: ref.name, version: ref.version, format: ref.format, at: now() });
      if (cache.size > max) cache.delete(cache.keys().next().value as string);
    }
    return key;
  };

  // A value, not a promise, when the data key is cached (most reads): no promise per secret.
  const openWith = (ref: Omit<ValueRef, 'format'>, sealed: SealedValue): Buffer | Promise<Buffer> => {
    if (sealed.format !== SECRET_FORMAT) throw new WardError('ERR_CRYPTO_FORMAT', `unknown secret value format ${sealed.format}`);
    if (sealed.ciphertext.length === 0 || sealed.wrappedKey.length === 0) {
      throw new WardError('ERR_CRYPTO_FORMAT', 'this version was destroyed');
    }
    const full: ValueRef = { app: ref.app, env: ref.env, name: ref.name, version: ref.version, format: sealed.format };
    const aad = secretAad(full);
    const id = sealed.wrappedKey.toString('latin1');
    const key = cached(id, full, sealed.keyId);
    if (key) return openAesGcm(key, sealed.ciphertext, aad);
    return unwrapped(id, full, sealed, aad).then((k) => openAesGcm(k, sealed.ciphertext, aad));
  };

  return {
    async seal(ref, plaintext) {
      const wrapper = await scoped.forScope({ app: ref.app, env: ref.env });
      const envelope = await sealEnvelope(wrapper, plaintext, secretAad({ ...ref, format: SECRET_FORMAT }));
      return { ...envelope, format: SECRET_FORMAT };
    },
    async open(ref, sealed) {
      try {
        return await openWith(ref, sealed);
      } catch (e) {
        if (!options.reload || !isWardError(e) || e.code !== 'ERR_KEY_DESTROYED') throw e;
        // re-wrapped by a rotation after this row was read: the stored row has the new key id
        const again = await options.reload(ref);
        if (!again || again.keyId === sealed.keyId) throw e;
        return openWith(ref, again);
      }
    },
    cacheSize: () => cache.size,
    clear() {
      cache.clear();
    },
    close() {
      cache.clear();
    },
  };
}
