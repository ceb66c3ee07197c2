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

/** Called once a record is committed (`error` null, its seq) or could not be (`error` set). */
export type AppendCallback = (error: unknown, seq: number) => void;

/** Where records go: a Store, or the SQLite worker (audit-worker.ts). Answers each record's seq. */
export interface AuditSink {
  appendAudit(entries: AuditInput[]): Promise<readonly { seq: number }[]>;
  /**
   * Optional: appends one record and reports through `done`, without a promise per call (the
   * worker's hot path). @throws TypeError on an entry the chain cannot encode
   */
  appendOne?(entry: AuditInput, done: AppendCallback): void;
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
  const appendOne: NonNullable<AuditSink['appendOne']> =
    store.appendOne?.bind(store) ??
    ((entry, done) => {
      store.appendAudit([entry]).then((records) => done(null, records[0]?.seq ?? 0), (e: unknown) => done(e, 0));
    });
  let pending = 0;
  /** close() waits on `idle`, which `drained` resolves once nothing is pending. */
  let idle: Promise<void> | null = null;
  let drained: (() => void) | null = null;
  let closed = false;
  let draining = false;
  let lastSeq = 0;
  const watchers = new Set<() => void>();

  return {
    // One promise per record, resolved from the sink's callback: this runs on every request.
    record(entry) {
      if (closed) return Promise.reject(new WardError('ERR_API_UNAVAILABLE', 'the server is shutting down'));
      return new Promise<void>((resolve, reject) => {
        pending++;
        const done: AppendCallback = (error, seq) => {
          if (--pending === 0) drained?.();
          if (error !== null) {
            options.onError?.(error);
            reject(new WardError('ERR_API_UNAVAILABLE', 'the audit log cannot be written', { cause: error }));
            return;
          }
          if (seq > lastSeq && entry.operation !== AUDIT_READ) {
            lastSeq = seq;
            for (const wake of watchers) wake();
          }
          resolve();
        };
        try {
          appendOne(entry, done);
        } catch (e) {
          // misuse (an entry the chain cannot encode): as any other failed append, the request fails closed
          done(e, 0);
        }
      });
    },
    depth: () => pending,
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
      if (pending > 0) await (idle ??= new Promise<void>((resolve) => (drained = resolve)));
    },
  };
}
