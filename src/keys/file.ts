/**
 * The `file` key provider: a 32-byte master key in a file only its owner can read.
 *
 * Data keys are wrapped with AES-256-GCM under the master key. Wrapped layout:
 * version (1 byte, 0x01) ‖ nonce (12) ‖ ciphertext (32) ‖ tag (16). The associated data is
 * `ward/dek/v1`, NUL, key id, NUL, the record's own associated data, so a wrapped key opens only
 * for the record it was made for.
 */
import { createHmac } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import { KEY_BYTES, keyObject, newKey, openAesGcm, sealAesGcm } from '../crypto/aead.ts';
import { WardError } from '../errors.ts';
import type { KeyWrapper } from '../crypto/envelope.ts';
import type { KeyProvider } from './provider.ts';

const WRAP_VERSION = 0x01;
const WRAP_LABEL = Buffer.from('ward/dek/v1\0');

/**
 * Creates a new master key file (mode 0600). Refuses to overwrite an existing file.
 * @throws WardError ERR_IO when the file exists or cannot be written
 */
export function createFileKey(path: string): void {
  const key = newKey();
  try {
    writeFileSync(path, key, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
    throw new WardError('ERR_IO', exists ? `key file ${path} already exists` : `cannot write key file ${path}`, {
      cause: e,
      hint: exists ? 'a master key is never overwritten; move the old one away first if you really mean it' : undefined,
    });
  } finally {
    key.fill(0);
  }
}

/** Reads a key file, refusing one that group or others can read. */
function readKeyFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new WardError('ERR_KEY_NOT_FOUND', `cannot open master key file ${path}`, { cause: e, hint: 'check [keys] path in ward.toml' });
  }
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o077) !== 0) {
      throw new WardError('ERR_KEY_INSECURE_PERMISSIONS', `master key file ${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)})`, {
        hint: `chmod 600 ${path}`,
      });
    }
    if (st.size !== KEY_BYTES) {
      throw new WardError('ERR_KEY_INVALID', `master key file ${path} must hold exactly ${KEY_BYTES} bytes, not ${st.size}`);
    }
    const key = Buffer.alloc(KEY_BYTES);
    if (readSync(fd, key, 0, KEY_BYTES, 0) !== KEY_BYTES) throw new WardError('ERR_KEY_INVALID', `short read of master key file ${path}`);
    return key;
  } finally {
    closeSync(fd);
  }
}

/** The associated data a master key wraps a data key under (see the module comment). */
export function wrapAad(keyId: string, aad: Buffer): Buffer {
  return Buffer.concat([WRAP_LABEL, Buffer.from(keyId), Buffer.of(0), aad]);
}

/** The id of a raw master key: `<kind>:` and 16 hex digits of an HMAC of the key. */
export function keyIdFor(kind: string, rawKey: Buffer): string {
  return `${kind}:${createHmac('sha256', rawKey).update('ward key id').digest('hex').slice(0, 16)}`;
}

/** A master key that can be loaded into memory and dropped again; wraps with the layout above. */
export interface MemoryKey extends KeyWrapper {
  readonly loaded: boolean;
  /** Takes the key (and zeroes `rawKey`). */
  load(rawKey: Buffer): void;
  drop(): void;
}

export function memoryKey(keyId: string): MemoryKey {
  let key: ReturnType<typeof keyObject> | null = null;
  const live = () => {
    if (!key) throw new WardError('ERR_KEY_SEALED', 'the master key is sealed', { hint: 'unseal it: ward operator unseal' });
    return key;
  };
  return {
    keyId,
    get loaded() {
      return key !== null;
    },
    load(rawKey) {
      if (rawKey.length !== KEY_BYTES) throw new TypeError(`master key must be ${KEY_BYTES} bytes`);
      key = keyObject(rawKey);
      rawKey.fill(0);
    },
    drop() {
      // KeyObjects cannot be zeroed from JavaScript; dropping the reference is what we can do.
      key = null;
    },
    async wrap(dataKey, aad) {
      return Buffer.concat([Buffer.of(WRAP_VERSION), sealAesGcm(live(), dataKey, wrapAad(keyId, aad))]);
    },
    async unwrap(wrapped, aad, id) {
      if (id !== keyId) throw new WardError('ERR_KEY_NOT_FOUND', `data key was wrapped by master key ${id}, this server holds ${keyId}`);
      const k = live();
      if (wrapped[0] !== WRAP_VERSION) throw new WardError('ERR_CRYPTO_FORMAT', 'unknown wrapped key version');
      return openAesGcm(k, wrapped.subarray(1), wrapAad(keyId, aad));
    },
  };
}

/**
 * A provider over raw key bytes; used by `file` and by tests. `reload` (the file provider's)
 * reads the key again on unseal; without it a sealed provider stays sealed.
 */
export function rawKeyProvider(kind: string, rawKey: Buffer, reload?: () => Buffer): KeyProvider {
  if (rawKey.length !== KEY_BYTES) throw new TypeError(`master key must be ${KEY_BYTES} bytes`);
  const mk = memoryKey(keyIdFor(kind, rawKey));
  mk.load(rawKey);
  const progress = () => ({ sealed: !mk.loaded, have: mk.loaded ? 1 : 0, need: 1 });
  return {
    kind,
    keyId: mk.keyId,
    get sealed() {
      return !mk.loaded;
    },
    wrap: mk.wrap,
    unwrap: mk.unwrap,
    seal: mk.drop,
    async unseal() {
      if (mk.loaded) return progress();
      if (!reload) throw new WardError('ERR_KEY_SEALED', 'this master key was given in memory and cannot be reloaded');
      const raw = reload();
      if (keyIdFor(kind, raw) !== mk.keyId) {
        raw.fill(0);
        throw new WardError('ERR_KEY_INVALID', `the master key file now holds another key than ${mk.keyId}`, { hint: 'restore the original master key file' });
      }
      mk.load(raw);
      return progress();
    },
    close: mk.drop,
  };
}

/**
 * Loads the `file` provider.
 * @throws WardError ERR_KEY_NOT_FOUND, ERR_KEY_INSECURE_PERMISSIONS, ERR_KEY_INVALID
 */
export function openFileKeyProvider(path: string): KeyProvider {
  return rawKeyProvider('file', readKeyFile(path), () => readKeyFile(path));
}
