/**
 * rclone crypt keys: one scrypt derivation from the password and the optional salt ("password2"),
 * as rclone's backend/crypt/cipher.go `Cipher.Key` does (rclone 64ab1ac).
 *
 *   key = scrypt(password, salt or DEFAULT_SALT, N=16384, r=8, p=1, 80 bytes)
 *   data key = key[0:32] (XSalsa20-Poly1305), name key = key[32:64] (AES-256), name tweak = key[64:80]
 *
 * rclone quirk kept for compatibility: an empty password gives all-zero keys (its tests rely on it;
 * Ward's CLI refuses an empty password before it gets here). An empty salt means the default salt.
 */
import { scrypt } from 'node:crypto';

/** rclone's built-in salt, used when no password2 is configured. */
export const DEFAULT_SALT: Buffer = Buffer.from('a80df43a8fbd0308a7cab83e581f86b1', 'hex');

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const DATA_KEY_BYTES = 32;
const NAME_KEY_BYTES = 32;
const NAME_TWEAK_BYTES = 16;
const KEY_BYTES = DATA_KEY_BYTES + NAME_KEY_BYTES + NAME_TWEAK_BYTES;

/** The three keys of an rclone crypt remote. Views of one buffer: {@link zeroKeys} wipes them all. */
export interface RcloneKeys {
  readonly dataKey: Buffer;
  readonly nameKey: Buffer;
  readonly nameTweak: Buffer;
}

function split(key: Buffer): RcloneKeys {
  return {
    dataKey: key.subarray(0, DATA_KEY_BYTES),
    nameKey: key.subarray(DATA_KEY_BYTES, DATA_KEY_BYTES + NAME_KEY_BYTES),
    nameTweak: key.subarray(DATA_KEY_BYTES + NAME_KEY_BYTES, KEY_BYTES),
  };
}

/**
 * Derives the keys from the password and salt bytes (the UTF-8 of rclone's `password` and
 * `password2`, already revealed if they were obscured). This is the one entry point for every
 * key source: a password file today, a secret fetched from the Ward server later.
 */
export function deriveKeys(password: Uint8Array, salt?: Uint8Array): Promise<RcloneKeys> {
  if (password.length === 0) return Promise.resolve(split(Buffer.alloc(KEY_BYTES)));
  const s = salt === undefined || salt.length === 0 ? DEFAULT_SALT : salt;
  return new Promise((resolve, reject) => {
    scrypt(password, s, KEY_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(split(key))));
  });
}

/** Overwrites the key material with zeros. */
export function zeroKeys(keys: RcloneKeys): void {
  keys.dataKey.fill(0);
  keys.nameKey.fill(0);
  keys.nameTweak.fill(0);
}
