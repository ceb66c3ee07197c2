/**
 * The server's audit trail. Every request — granted or denied, including malformed ones — yields
 * one record (time, identity, serial, source, operation, path, outcome, detail; never a value).
 *
 * Durability and batching are the store's: appendAudit calls made in the same turn of the event
 * loop go into one transaction (group commit, one fsync) and each resolves after its COMMIT. A read
 * is answered only after its record is durable; if the append fails the caller gets
 * ERR_API_UNAVAILABLE (503) and the read fails closed.
 */
import { WardError } from '../errors.ts';
import type { AuditInput } from '../store/types.ts';

/** Operation name of reads of the audit log itself. */
export const AUDIT_READ = 'audit.read';

/** Where records go: a Store, or the SQLite worker (audit-worker.ts). Answers each record's seq. */
export interface AuditSink {
  appendAudit(entries: AuditInput[]): Promise<readonly { seq: number }[]>;
}

export interface Auditor {
  /** Appends one record; resolves once it is committed. @throws WardError ERR_API_UNAVAILABLE */
  record(entry: AuditInput): Promise<void>;
  /** Records handed to the store and not yet committed. */
  depth(): number;
  /**
   * Resolves once this server appends a record with seq > after whose operation is not
   * {@link AUDIT_READ} (so tailing the log does not wake itself with its own records), or after `ms`.
   */
  waitForNewer(after: number, ms: number, signal?: AbortSignal): Promise<void>;
  /** Ends every wait of {@link waitForNewer} now and makes later ones return at once (drain). */
  stopWaiting(): void;
  /** Waits for every pending record; later records are refused. */
  close(): Promise<void>;
}

export function createAuditor(store: AuditSink, options: { onError?: (e: unknown) => void } = {}): Auditor {
  const pending = new Set<Promise<unknown>>();
  let closed = false;
  let draining = false;
  let lastSeq = 0;
  const watchers = new Set<() => void>();

  return {
    // Not async, no finally: two promises per record instead of four on the hot path.
    record(entry) {
      if (closed) return Promise.reject(new WardError('ERR_API_UNAVAILABLE', 'the server is shutting down'));
      const append = store.appendAudit([entry]);
      pending.add(append);
      return append.then(
        (records) => {
          pending.delete(append);
          const record = records[0];
          if (record && record.seq > lastSeq && entry.operation !== AUDIT_READ) {
            lastSeq = record.seq;
            for (const wake of watchers) wake();
          }
        },
        (e: unknown) => {
          pending.delete(append);
          options.onError?.(e);
          throw new WardError('ERR_API_UNAVAILABLE', 'the audit log cannot be written', { cause: e });
        },
      );
    },
    depth: () => pending.size,
    waitForNewer(after, ms, signal) {
      if (lastSeq > after || draining) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          watchers.delete(wake);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const wake = () => {
          if (lastSeq > after || draining) done();
        };
        const timer = setTimeout(done, ms);
        watchers.add(wake);
        signal?.addEventListener('abort', done, { once: true });
      });
    },
    stopWaiting() {
      draining = true;
      for (const wake of watchers) wake();
    },
    async close() {
      this.stopWaiting();
      closed = true;
      await Promise.allSettled([...pending]);
    },
  };
}
