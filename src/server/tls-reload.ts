/**
 * Hot reload of the server's TLS material: the server certificate and key and the client CA
 * bundle (ward.toml [server.tls]) are watched, and a rotated set replaces the listeners' secure
 * context without a restart (`server.setSecureContext`; connections already open keep theirs).
 * Revocations need nothing here: they are live already (identity.ts).
 *
 * fs.watch on the files' directories reacts at once where the platform supports it; a periodic
 * stat (size, mtime, inode) catches what it misses (editors that replace files, network file
 * systems, atomic renames of a parent symlink as Kubernetes does for mounted secrets). A new set is
 * used only when it is whole: the certificate parses, the key matches it, the CA bundle parses;
 * a half-written rotation (new key, old certificate) is skipped until the next change.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

export interface TlsPaths {
  cert: string;
  key: string;
  clientCa: string;
}

export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export interface TlsWatcher {
  /** Compares the files with the last loaded set now; true when a new set was applied. */
  check(): boolean;
  close(): void;
}

function signature(paths: TlsPaths): string {
  return [paths.cert, paths.key, paths.clientCa].map((p) => {
    try {
      const s = statSync(p);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }).join('|');
}

/** Reads a TLS set and checks it is whole. @throws Error when it is not */
export function readTlsMaterial(paths: TlsPaths): TlsMaterial {
  const cert = readFileSync(paths.cert, 'utf8');
  const key = readFileSync(paths.key, 'utf8');
  const ca = readFileSync(paths.clientCa, 'utf8');
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error('the server key does not match the server certificate');
  new X509Certificate(ca);
  return { cert, key, ca };
}

/**
 * Watches `paths`; calls `apply` with each new whole set.
 * @param options.intervalMs how often to stat the files (default 2000)
 */
export function watchTls(paths: TlsPaths, apply: (tls: TlsMaterial) => void, options: { intervalMs?: number; onError?: (e: unknown) => void } = {}): TlsWatcher {
  let loaded = signature(paths);
  let refused = '';
  const check = () => {
    const now = signature(paths);
    if (now === loaded || now === refused) return false;
    let tls: TlsMaterial;
    try {
      tls = readTlsMaterial(paths);
      apply(tls);
    } catch (e) {
      refused = now;
      options.onError?.(e);
      return false;
    }
    loaded = now;
    return true;
  };
  let pending: NodeJS.Timeout | undefined;
  const soon = () => {
    // a rotation writes several files: look once they have all landed
    clearTimeout(pending);
    pending = setTimeout(check, 100);
    pending.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set([paths.cert, paths.key, paths.clientCa].map((p) => dirname(p)))) {
    try {
      watchers.push(watch(dir, { persistent: false }, soon));
    } catch {
      // no inotify here: the periodic stat still notices
    }
  }
  const timer = setInterval(check, options.intervalMs ?? 2000);
  timer.unref();
  return {
    check,
    close() {
      clearInterval(timer);
      clearTimeout(pending);
      for (const w of watchers) w.close();
    },
  };
}
