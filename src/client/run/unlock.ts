/**
 * Remote unlock of folders (SPEC §1.5): `ward run --unlock ENCRYPTED_DIR:PLAIN_DIR[:NAME]` and
 * `ward dir encrypt|decrypt --key APP/ENV/NAME`. A folder encrypted in the rclone crypt format
 * (src/fs/crypt-tree.ts) is opened with a folder key that only the Ward server holds, and is
 * decrypted into a memory-backed directory before the app starts, so a stolen device or image
 * holds nothing readable.
 *
 * The folder key is a secret (docs/formats.md, "Folder keys"):
 *
 *   {"version":1,"password":"<base64url of 32 random bytes>","salt":"<base64url of 16 random bytes>"}
 *
 * The two strings, as text, are the `password` and `password2` of an rclone crypt remote, so
 * `rclone` opens the folder too (with `rclone obscure` applied to each). Values ≤ 4 KiB.
 */
import { lstatSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { WardError } from '../../errors.ts';
import { deriveKeys, zeroKeys, type RcloneKeys } from '../../formats/rclone/index.ts';
import { decryptTree, type TreeProgress } from '../../fs/crypt-tree.ts';
import { isValidSegment } from '../../pki/spiffe.ts';
import { isMemoryBacked } from './memfs.ts';

export const FOLDER_KEY_VERSION = 1;
export const DEFAULT_UNLOCK_KEY = 'DIR_KEY';
const MAX_FOLDER_KEY = 4096;

const keyError = (what: string) => new WardError('ERR_RUN_VALUE', `the folder key ${what}`, { hint: 'a folder key is {"version":1,"password":…,"salt":…} (docs/formats.md); make one with ward dir encrypt --key' });

/** A new folder key value (the secret's bytes). */
export function newFolderKey(): Buffer {
  const pw = randomBytes(32);
  const salt = randomBytes(16);
  const value = Buffer.from(JSON.stringify({ version: FOLDER_KEY_VERSION, password: pw.toString('base64url'), salt: salt.toString('base64url') }));
  pw.fill(0);
  salt.fill(0);
  return value;
}

/**
 * The rclone crypt keys of a folder key value (which the caller zeroes).
 * @throws WardError ERR_RUN_VALUE when the value is not a folder key
 */
export async function folderKeys(value: Buffer, what: string): Promise<RcloneKeys> {
  if (value.length > MAX_FOLDER_KEY) throw keyError(`${what} is too large`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(value));
  } catch {
    throw keyError(`${what} is not JSON`);
  }
  const o = v as Record<string, unknown> | null;
  const b64u = /^[A-Za-z0-9_-]{16,}$/;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o.version !== FOLDER_KEY_VERSION
    || typeof o.password !== 'string' || !b64u.test(o.password) || typeof o.salt !== 'string' || !b64u.test(o.salt)
    || Object.keys(o).length !== 3) {
    throw keyError(`${what} is malformed`);
  }
  const pw = Buffer.from(o.password);
  const salt = Buffer.from(o.salt);
  try {
    return await deriveKeys(pw, salt);
  } finally {
    pw.fill(0);
    salt.fill(0);
  }
}

export interface UnlockSpec {
  src: string;
  dst: string;
  /** The secret of the app's APP/ENV holding the folder key. */
  name: string;
}

/**
 * Parses `SRC:DST[:NAME]` (NAME defaults to DIR_KEY).
 * @throws WardError ERR_USAGE
 */
export function parseUnlockSpec(spec: string): UnlockSpec {
  const parts = spec.split(':');
  const [src, dst, name = DEFAULT_UNLOCK_KEY] = parts;
  if (parts.length < 2 || parts.length > 3 || !src || !dst || !isValidSegment(name)) {
    throw new WardError('ERR_USAGE', `invalid --unlock ${JSON.stringify(spec)}`, { hint: 'use --unlock ENCRYPTED_DIR:PLAIN_DIR[:SECRET_NAME] (paths without ":")' });
  }
  return { src: resolve(src), dst: resolve(dst), name };
}

function nearestExisting(path: string): string {
  let p = path;
  for (;;) {
    try {
      lstatSync(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

/**
 * Checks, before any network, that SRC is a directory and DST is absent or an empty directory on
 * a memory-backed file system (unless allowDisk).
 * @throws WardError ERR_USAGE, ERR_RUN_DISK
 */
export function checkUnlockSpec(u: UnlockSpec, allowDisk: boolean): void {
  let src;
  try {
    src = statSync(u.src);
  } catch (e) {
    throw new WardError('ERR_USAGE', `--unlock: cannot read the encrypted folder ${u.src}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!src.isDirectory()) throw new WardError('ERR_USAGE', `--unlock: ${u.src} is not a directory`);
  const existing = nearestExisting(u.dst);
  if (existing === u.dst) {
    if (!statSync(u.dst).isDirectory() || readdirSync(u.dst).length > 0) {
      throw new WardError('ERR_USAGE', `--unlock: ${u.dst} must be absent or an empty directory`);
    }
  }
  if (!allowDisk && !isMemoryBacked(existing)) {
    throw new WardError('ERR_RUN_DISK', `--unlock: ${u.dst} is not memory-backed; the plaintext folder would reach a disk`, {
      hint: 'use a tmpfs such as /dev/shm, or pass --allow-disk if you accept that',
    });
  }
  if (u.dst === u.src || u.dst.startsWith(`${u.src}/`)) throw new WardError('ERR_USAGE', `--unlock: ${u.dst} is inside ${u.src}`);
}

export interface UnlockOptions {
  /** The folder key value of secret NAME of the app's APP/ENV (zeroed here). */
  fetchKey: (name: string) => Promise<Buffer>;
  onProgress?: (spec: UnlockSpec, p: TreeProgress) => void;
  onWarning?: (message: string) => void;
}

export interface Unlocked {
  dst: string;
  /** Whether Ward created DST (else it existed empty). */
  created: boolean;
}

/**
 * Decrypts every folder; on any failure removes all that was written (a created DST entirely, the
 * contents of a DST that existed empty) and rethrows.
 * @throws WardError from the server (ERR_API_DENIED…), ERR_RUN_VALUE, ERR_RCLONE_*
 */
export async function unlockFolders(specs: readonly UnlockSpec[], o: UnlockOptions): Promise<Unlocked[]> {
  const written: Unlocked[] = [];
  try {
    for (const u of specs) {
      const value = await o.fetchKey(u.name);
      let keys: RcloneKeys;
      try {
        keys = await folderKeys(value, `secret ${u.name}`);
      } finally {
        value.fill(0);
      }
      try {
        const created = nearestExisting(u.dst) !== u.dst;
        mkdirSync(u.dst, { recursive: true, mode: 0o700 });
        written.push({ dst: u.dst, created });
        await decryptTree(u.src, u.dst, {
          keys,
          ...(o.onWarning ? { onWarning: o.onWarning } : {}),
          ...(o.onProgress ? { onProgress: (p: TreeProgress) => o.onProgress!(u, p) } : {}),
        });
      } finally {
        zeroKeys(keys);
      }
    }
  } catch (e) {
    removeUnlocked(written);
    throw e;
  }
  return written;
}

/** Removes decrypted folders: a DST Ward created entirely, the contents of one that existed. */
export function removeUnlocked(targets: readonly Unlocked[]): void {
  for (const t of targets) {
    if (t.created) rmSync(t.dst, { recursive: true, force: true });
    else {
      let names: string[] = [];
      try {
        names = readdirSync(t.dst);
      } catch {
        // already gone
      }
      for (const n of names) rmSync(resolve(t.dst, n), { recursive: true, force: true });
    }
  }
}
