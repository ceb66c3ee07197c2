/**
 * The audit worker thread (audit-worker.ts): its own connection to the SQLite store, appending
 * the batches the main thread posts. Each message is the JSON of the batch's entries as arrays
 * (entryRow in audit-worker.ts); the reply,
 * after the COMMIT, carries the seq of the batch's first record (the rest follow consecutively).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStore } from '../store/sqlite.ts';
import { rowEntry } from './audit-worker.ts';

const port = parentPort!;
let store: Awaited<ReturnType<typeof openSqliteStore>>;
try {
  store = await openSqliteStore((workerData as { path: string }).path, { migrate: false });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ ready: false, error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}

port.on('message', (m: { id: number; entries: string } | { close: true }) => {
  if ('close' in m) {
    void store.close().then(() => port.close());
    return;
  }
  const entries = (JSON.parse(m.entries) as Parameters<typeof rowEntry>[0][]).map(rowEntry);
  store.appendAudit(entries).then(
    (records) => port.postMessage({ id: m.id, first: records[0]?.seq ?? 0 }),
    (e: unknown) => port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
