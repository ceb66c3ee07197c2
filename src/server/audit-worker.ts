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
 * Records travel in batches, one message and one transaction each (see send below).
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { Server, Socket } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WardError } from '../errors.ts';
import { assertAuditInput } from '../store/audit-chain.ts';
import type { AuditInput } from '../store/types.ts';
import type { AppendCallback, AuditSink } from './audit.ts';

export interface AuditAppender extends AuditSink {
  appendOne: NonNullable<AuditSink['appendOne']>;
  /**
   * Counts the connections of `server` (the API and enrolment servers): each may still send a
   * request whose record could share a commit, which is what holding a commit waits for.
   */
  watchConnections(server: Server): void;
  close(): Promise<void>;
}

interface Pending {
  count: number;
  done: AppendCallback;
}

/** A batch's records get consecutive seqs (one transaction); the reply carries the first. */
/** A held batch is sent once it holds this many records... */
const FULL_BATCH = 48;
/**
 * ...or once its oldest record has waited the hold: none while the event loop is at most half
 * busy, growing with its utilization to MAX_HOLD_MS when saturated (where a commit's CPU is worth
 * more than the wait, which queueing for the CPU already exceeds).
 */
const MAX_HOLD_MS = 20;
const IDLE_UTILIZATION = 0.5;
const UTILIZATION_WINDOW_MS = 100;

export interface AuditWorkerOptions {
  /** The longest hold, reached at full utilization; default 20 ms. */
  maxHoldMs?: number;
  /** Event-loop utilization (0-1) of the recent past; default: this thread's, over ~100 ms. */
  utilization?: () => number;
}

/** Event-loop utilization of the calling thread over the last UTILIZATION_WINDOW_MS, sampled lazily. */
function eventLoopUtilization(): () => number {
  let utilization = 0;
  let mark = performance.eventLoopUtilization();
  let markedAt = performance.now();
  return () => {
    const now = performance.now();
    if (now - markedAt >= UTILIZATION_WINDOW_MS) {
      const next = performance.eventLoopUtilization();
      utilization = performance.eventLoopUtilization(next, mark).utilization;
      mark = next;
      markedAt = now;
    }
    return utilization;
  };
}

type Reply = { id: number; first: number } | { id: number; error: string };

/** Starts the worker on the SQLite database at `path` (already migrated by the main store). */
export async function startAuditWorker(path: string, options: AuditWorkerOptions = {}): Promise<AuditAppender> {
  const maxHoldMs = options.maxHoldMs ?? MAX_HOLD_MS;
  const utilization = options.utilization ?? eventLoopUtilization();
  /** How long the batch being filled may be held; 0 sends it as soon as no batch is in flight. */
  const holdFor = () => Math.round(maxHoldMs * Math.min(1, Math.max(0, (utilization() - IDLE_UTILIZATION) / (1 - IDLE_UTILIZATION))));
  // The thread's module sits next to this one with the same extension: .ts when run from source,
  // .js from the build (dist/).
  const worker = new Worker(new URL(`./audit-worker-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url), { workerData: { path } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ready?: boolean; error?: string }) =>
      m.ready ? resolve() : reject(new WardError('ERR_STORE_UNAVAILABLE', `audit worker cannot open the database: ${m.error ?? 'unknown error'}`)));
    worker.once('error', reject);
  });
  let nextId = 1;
  let queue: Pending[] = [];
  /** The queued records, each its {@link entryRow} text, one per line. */
  let rows = '';
  let queued = 0;
  let closed = false;
  const inFlight = new Map<number, Pending[]>();

  let connections = 0;
  /** Records queued or being committed: their callers cannot send another request meanwhile. */
  let waiting = 0;

  let dead: WardError | null = null;
  const failAll = (e: WardError) => {
    dead ??= e;
    for (const batch of inFlight.values()) for (const p of batch) p.done(e, 0);
    inFlight.clear();
    for (const p of queue) p.done(e, 0);
    queue = [];
    rows = '';
    queued = 0;
    waiting = 0;
  };
  worker.on('message', (m: Reply) => {
    const batch = inFlight.get(m.id);
    if (!batch) return;
    inFlight.delete(m.id);
    for (const p of batch) waiting -= p.count;
    send();
    if ('error' in m) {
      const err = new WardError('ERR_STORE_UNAVAILABLE', `audit append failed: ${m.error}`);
      for (const p of batch) p.done(err, 0);
    } else {
      let seq = m.first;
      for (const p of batch) {
        p.done(null, seq);
        seq += p.count;
      }
    }
  });
  worker.on('error', (e) => failAll(new WardError('ERR_STORE_UNAVAILABLE', 'audit worker failed', { cause: e })));
  worker.on('exit', () => failAll(new WardError('ERR_STORE_UNAVAILABLE', 'audit worker stopped')));

  // Group commit, one batch in flight at a time: records that arrive while the worker commits go
  // together in the next message. On this kind of machine a commit costs ~0.5-1 ms of CPU whatever
  // its size (WAL frames, the fsync's block I/O, thread wake-ups on a CPU the server keeps busy),
  // so a batch of 1 costs tens of times more per record than one of 48. When the server is idle a
  // record is committed at once: latency matters, CPU is spare. When the event loop is busy and
  // some connection could still send a request, the batch is held until it is full, every
  // connection waits on it, or its oldest record has waited the hold (PostgreSQL's commit_delay and
  // commit_siblings, decided per batch): at ~350 new mTLS connections a second this turns one commit
  // per read into one per ~7 (bench/RESULTS.md). Entries travel as one string, an entryRow JSON
  // text per line: far cheaper to post than a structured clone of many small objects, and the
  // worker hashes and binds it without rebuilding entries (audit-worker-thread.ts).
  let timer: NodeJS.Timeout | null = null;
  let due = false;
  /** The hold of the batch being filled, decided when its first record arrives. */
  let holdMs = 0;
  const hold = () => !due && holdMs > 0 && queued < FULL_BATCH && connections > waiting;
  const send = () => {
    if (queue.length === 0 || inFlight.size > 0 || hold()) return;
    if (timer) clearTimeout(timer);
    timer = null;
    due = false;
    const batch = queue;
    const text = rows;
    queue = [];
    rows = '';
    queued = 0;
    const id = nextId++;
    inFlight.set(id, batch);
    worker.postMessage({ id, rows: text });
  };
  const arm = () => {
    timer ??= setTimeout(() => {
      timer = null;
      due = true;
      send();
    }, holdMs);
  };

  /** Queues the entries' rows; `done` gets the first one's seq once they are committed. */
  const enqueue = (encoded: string, count: number, done: AppendCallback) => {
    if (dead) return done(dead, 0);
    if (closed) return done(new WardError('ERR_STORE_UNAVAILABLE', 'the audit worker is closed'), 0);
    if (queue.length === 0) holdMs = holdFor();
    queue.push({ count, done });
    rows += (rows === '' ? '' : '\n') + encoded;
    queued += count;
    waiting += count;
    send();
    if (queue.length > 0 && holdMs > 0) arm();
  };

  return {
    appendAudit(entries) {
      let encoded = '';
      try {
        for (const e of entries) {
          assertAuditInput(e);
          encoded += (encoded === '' ? '' : '\n') + entryRow(e);
        }
      } catch (e) {
        return Promise.reject(e);
      }
      return new Promise((resolve, reject) => {
        enqueue(encoded, entries.length, (error, first) => {
          if (error !== null) reject(error);
          else resolve(entries.map((_, i) => ({ seq: first + i })));
        });
      });
    },
    // The auditor's path: one record, no promise of its own (audit.ts).
    appendOne(entry, done) {
      assertAuditInput(entry);
      enqueue(entryRow(entry), 1, done);
    },
    watchConnections(server) {
      server.on('connection', (socket: Socket) => {
        connections++;
        socket.once('close', () => {
          connections--;
          // the batch may have been held for this connection's request
          send();
        });
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      while (!dead && (inFlight.size > 0 || queue.length > 0)) {
        due = true;
        send();
        await new Promise((r) => setTimeout(r, 5));
      }
      if (dead) return;
      worker.postMessage({ close: true });
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

/** An entry's columns as the worker thread binds them: time, identity, serial, source, operation, path, outcome, detail. */
export type AuditRow = [number, string, string, string, string, string, string, string | null];

/** An entry as it crosses to the worker thread: the JSON text of its {@link AuditRow} (never a raw newline). */
export function entryRow(e: AuditInput): string {
  return JSON.stringify([e.time, e.identity, e.serial, e.source, e.operation, e.path, e.outcome, e.detail ?? null]);
}

/**
 * canonicalAuditRecord(seq, entry) (audit-chain.ts) from the entry's {@link entryRow} text: the
 * same JSON array with the seq in front, so the worker hashes the text it received.
 */
export function rowCanonical(seq: number, row: string): string {
  return `[${seq},${row.slice(1)}`;
}
