/**
 * Audit appends on a worker thread, for the SQLite store.
 *
 * node:sqlite is synchronous: a COMMIT blocks the thread that runs it until the WAL is fsynced
 * (milliseconds on many disks). Every audited request waits for such a commit, so on the main
 * thread each group commit would freeze the whole server — TLS, parsing, other requests — for the
 * length of an fsync. Here a second connection to the same database file, on its own thread,
 * appends the records: the main thread keeps serving while the disk syncs, and records that arrive
 * meanwhile join the next group commit. The chain stays a single sequence because the store
 * appends inside BEGIN IMMEDIATE (SQLite's write lock) and reads the previous record under it.
 *
 * Records queued while the previous batch commits travel as one message and one transaction.
 */
import { Worker } from 'node:worker_threads';
import { WardError } from '../errors.ts';
import type { AuditInput, AuditRecord, Store } from '../store/types.ts';

export interface AuditAppender extends Pick<Store, 'appendAudit'> {
  close(): Promise<void>;
}

interface Pending {
  entries: AuditInput[];
  resolve: (records: AuditRecord[]) => void;
  reject: (e: unknown) => void;
}

/** Replies carry each caller's records as JSON text (see send). */
type Reply = { id: number; records: string } | { id: number; error: string };

/** Starts the worker on the SQLite database at `path` (already migrated by the main store). */
export async function startAuditWorker(path: string): Promise<AuditAppender> {
  const worker = new Worker(new URL('./audit-worker-thread.ts', import.meta.url), { workerData: { path } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ready?: boolean; error?: string }) =>
      m.ready ? resolve() : reject(new WardError('ERR_STORE_UNAVAILABLE', `audit worker cannot open the database: ${m.error ?? 'unknown error'}`)));
    worker.once('error', reject);
  });
  let nextId = 1;
  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;
  const inFlight = new Map<number, Pending[]>();

  let dead: WardError | null = null;
  const failAll = (e: WardError) => {
    dead ??= e;
    for (const batch of inFlight.values()) for (const p of batch) p.reject(e);
    inFlight.clear();
    for (const p of queue) p.reject(e);
    queue = [];
  };
  worker.on('message', (m: Reply) => {
    const batch = inFlight.get(m.id);
    if (!batch) return;
    inFlight.delete(m.id);
    if (queue.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(send);
    }
    if ('error' in m) {
      const err = new WardError('ERR_STORE_UNAVAILABLE', `audit append failed: ${m.error}`);
      for (const p of batch) p.reject(err);
    } else {
      const records = JSON.parse(m.records) as AuditRecord[][];
      batch.forEach((p, i) => p.resolve(records[i]!));
    }
  });
  worker.on('error', (e) => failAll(new WardError('ERR_STORE_UNAVAILABLE', 'audit worker failed', { cause: e })));
  worker.on('exit', () => failAll(new WardError('ERR_STORE_UNAVAILABLE', 'audit worker stopped')));

  // One batch in flight at a time: records that arrive while the worker commits go together in
  // the next message (they would wait for that commit anyway). Entries travel as one JSON string,
  // far cheaper to post than a structured clone of many small objects.
  const send = () => {
    scheduled = false;
    if (queue.length === 0 || inFlight.size > 0) return;
    const batch = queue;
    queue = [];
    const id = nextId++;
    inFlight.set(id, batch);
    worker.postMessage({ id, entries: JSON.stringify(batch.map((p) => p.entries)) });
  };

  return {
    appendAudit(entries) {
      if (dead) return Promise.reject(dead);
      if (closed) return Promise.reject(new WardError('ERR_STORE_UNAVAILABLE', 'the audit worker is closed'));
      return new Promise((resolve, reject) => {
        queue.push({ entries, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(send);
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      while (!dead && (inFlight.size > 0 || queue.length > 0)) {
        send();
        await new Promise((r) => setTimeout(r, 5));
      }
      if (dead) return;
      worker.postMessage({ close: true });
      await new Promise((r) => worker.once('exit', r));
    },
  };
}
