/**
 * Where `ward run` may write secret files: only memory-backed file systems (tmpfs, ramfs), so a
 * secret never reaches a disk, a snapshot or a backup, and vanishes at power-off.
 */
import { mkdtempSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { WardError } from '../../errors.ts';

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

export function isMemoryBacked(path: string): boolean {
  try {
    const type = statfsSync(path).type;
    return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
  } catch {
    return false;
  }
}

/** The default parent for secret files: $XDG_RUNTIME_DIR when memory-backed, else /dev/shm. */
export function defaultFilesParent(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isMemoryBacked(runtime)) return runtime;
  if (isMemoryBacked('/dev/shm')) return '/dev/shm';
  throw new WardError('ERR_RUN_DISK', 'no memory-backed directory found for secret files (/dev/shm or $XDG_RUNTIME_DIR)', {
    hint: 'mount a tmpfs and pass --files DIR, or --allow-disk to accept a disk-backed directory',
  });
}

/** Makes a private (0700) directory for one run's files under `parent`, checking it is memory-backed. */
export function makeFilesDir(parent: string, allowDisk: boolean): string {
  if (!allowDisk && !isMemoryBacked(parent)) {
    throw new WardError('ERR_RUN_DISK', `${parent} is not memory-backed; secret files would reach a disk`, {
      hint: 'use a tmpfs such as /dev/shm, or pass --allow-disk if you accept that',
    });
  }
  return mkdtempSync(join(parent, 'ward-'));
}
