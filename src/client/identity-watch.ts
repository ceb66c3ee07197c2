/**
 * Notices when an identity directory's key.pem or cert.pem changes (renewal by this process or
 * another, an operator re-issuing), so a long-lived client can pick the new identity up without a
 * restart. fs.watch reacts at once where it works; a periodic stat (inode, size, mtime) catches
 * what it misses. Unref'd: it never keeps a process alive.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { IDENTITY_FILES } from '../pki/identity-dir.ts';

function signature(dir: string): string {
  return [IDENTITY_FILES.key, IDENTITY_FILES.cert, IDENTITY_FILES.ca].map((f) => {
    try {
      const s = statSync(join(dir, f));
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }).join('|');
}

/** Calls `onChange` (debounced) whenever the identity files in `dir` differ from the last call. */
export function watchIdentityDir(dir: string, onChange: () => void, intervalMs = 5000): () => void {
  let last = signature(dir);
  const check = () => {
    const now = signature(dir);
    if (now === last) return;
    last = now;
    onChange();
  };
  let pending: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(pending);
      pending = setTimeout(check, 50);
      pending.unref();
    });
  } catch {
    // the periodic stat below still notices
  }
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    clearTimeout(pending);
    watcher?.close();
  };
}
