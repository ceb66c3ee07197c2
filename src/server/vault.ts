/**
 * Secret values at rest (docs/formats.md, "Secret values at rest").
 *
 * Each version is sealed by envelope encryption (src/crypto/envelope.ts) under a fresh data key
 * wrapped by the master key. Format version 1: the plaintext is the value's bytes as given; the
 * associated data is
 *
 *   "ward/secret/v1" ‖ u16be(len app) ‖ app ‖ u16be(len env) ‖ env ‖ u16be(len name) ‖ name
 *                    ‖ u32be(version) ‖ u16be(format)
 *
 * (strings UTF-8; in practice ASCII, as paths match `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`). The
 * encoding is injective, so a ciphertext (or wrapped key) copied to another row — another path,
 * version or format — fails authentication (ERR_CRYPTO_AUTH) instead of yielding another value.
 *
 * Unwrapping a data key costs an AES-GCM operation under the master key plus key set-up; a batch
 * read of 20 secrets does 20 of them. Unwrapped data keys are therefore kept as KeyObjects in a
 * bounded LRU keyed by (master key id, wrapped key, associated data). Trade-off: a data key stays
 * in memory after use (until evicted or the server stops) instead of being zeroed at once. The
 * master key, which opens every data key, is in the same process memory for the server's whole
 * life, so an attacker able to read that memory gains nothing new; the cache never holds
 * plaintext values and is dropped on {@link Vault.close}.
 */
import { keyObject, openAesGcm } from '../crypto/aead.ts';
import { sealEnvelope, type KeyWrapper } from '../crypto/envelope.ts';
import { WardError } from '../errors.ts';

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
  const parts = [ref.app, ref.env, ref.name].map((s) => Buffer.from(s, 'utf8'));
  let size = LABEL.length + 6;
  for (const p of parts) {
    if (p.length > 0xffff) throw new TypeError('path segment too long');
    size += 2 + p.length;
  }
  if (!Number.isInteger(ref.version) || ref.version < 1 || ref.version > 0xffffffff) throw new TypeError('invalid version');
  if (!Number.isInteger(ref.format) || ref.format < 0 || ref.format > 0xffff) throw new TypeError('invalid format');
  const out = Buffer.allocUnsafe(size);
  let off = LABEL.copy(out, 0);
  for (const p of parts) {
    off = out.writeUInt16BE(p.length, off);
    off += p.copy(out, off);
  }
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

export interface Vault {
  seal(ref: Omit<ValueRef, 'format'>, plaintext: Buffer): Promise<SealedValue>;
  /**
   * @throws WardError ERR_CRYPTO_AUTH when the row was tampered with or moved, ERR_CRYPTO_FORMAT
   *   for an unknown format or a destroyed version
   */
  open(ref: Omit<ValueRef, 'format'>, sealed: SealedValue): Promise<Buffer>;
  /** Unwrapped data keys held now (metrics, tests). */
  cacheSize(): number;
  close(): void;
}

export function createVault(wrapper: KeyWrapper, options: { cacheEntries?: number } = {}): Vault {
  const max = options.cacheEntries ?? 10_000;
  const cache = new Map<string, DataKey>();

  const dataKey = async (sealed: SealedValue, aad: Buffer): Promise<DataKey> => {
    const id = `${sealed.keyId}\0${sealed.wrappedKey.toString('base64')}\0${aad.toString('base64')}`;
    const hit = cache.get(id);
    if (hit) {
      // Map iteration order is insertion order: re-inserting makes this the most recent.
      cache.delete(id);
      cache.set(id, hit);
      return hit;
    }
    const raw = await wrapper.unwrap(sealed.wrappedKey, aad, sealed.keyId);
    let key: DataKey;
    try {
      key = keyObject(raw);
    } finally {
      raw.fill(0);
    }
    if (max > 0) {
      cache.set(id, key);
      if (cache.size > max) cache.delete(cache.keys().next().value as string);
    }
    return key;
  };

  return {
    async seal(ref, plaintext) {
      const envelope = await sealEnvelope(wrapper, plaintext, secretAad({ ...ref, format: SECRET_FORMAT }));
      return { ...envelope, format: SECRET_FORMAT };
    },
    async open(ref, sealed) {
      if (sealed.format !== SECRET_FORMAT) throw new WardError('ERR_CRYPTO_FORMAT', `unknown secret value format ${sealed.format}`);
      if (sealed.ciphertext.length === 0 || sealed.wrappedKey.length === 0) {
        throw new WardError('ERR_CRYPTO_FORMAT', 'this version was destroyed');
      }
      const aad = secretAad({ ...ref, format: sealed.format });
      return openAesGcm(await dataKey(sealed, aad), sealed.ciphertext, aad);
    },
    cacheSize: () => cache.size,
    close() {
      cache.clear();
    },
  };
}
