/**
 * The audit path alone, without TLS or HTTP: C concurrent callers (the benchmark's 50 connections)
 * each record an env.read entry through the auditor and the SQLite worker, wait for its commit,
 * and record the next. Prints records/s and CPU per record on the main thread and on the other
 * threads (the audit worker, V8's helpers); at the end checks the chain.
 *
 *   taskset -c 0 node bench/server/audit-path.ts [SECONDS=4] [C=50]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import { startAuditWorker } from '../../src/server/audit-worker.ts';
import { createAuditor } from '../../src/server/audit.ts';

const seconds = Number(process.argv[2] ?? 4);
const callers = Number(process.argv[3] ?? 50);
const dir = mkdtempSync('/var/tmp/ward-bench-audit-');
const path = join(dir, 'ward.db');
const store = await openSqliteStore(path);
const worker = await startAuditWorker(path);
const auditor = createAuditor(worker);
const entry = () => ({
  time: Date.now(),
  identity: 'spiffe://ward.local/app/bench/env/prod/loadgen',
  serial: '5f1e2d3c4b5a69788796a5b4c3d2e1f0',
  source: '127.0.0.1',
  operation: 'env.read',
  path: 'bench/prod/*',
  outcome: 'granted',
  detail: 'revision=20 secrets=20',
});

let stop = false;
let counting = false;
let done = 0;
async function caller() {
  while (!stop) {
    await auditor.record(entry());
    if (counting) done++;
    // the next request arrives on a later turn of the event loop, as over a socket
    await new Promise((r) => setImmediate(r));
  }
}
const running = Array.from({ length: callers }, caller);
await new Promise((r) => setTimeout(r, 1000));
counting = true;
const main0 = process.threadCpuUsage();
const all0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
counting = false;
const main = process.threadCpuUsage(main0);
const all = process.cpuUsage(all0);
const elapsed = (performance.now() - t0) / 1000;
stop = true;
await Promise.all(running);
await auditor.close();
await worker.close();
const chain = await verifyAuditChain(readAllAudit(store));
await store.close();
rmSync(dir, { recursive: true, force: true });
const mainUs = main.user + main.system;
console.log(JSON.stringify({
  callers,
  recordsPerSecond: Math.round(done / elapsed),
  mainUsPerRecord: Number((mainUs / done).toFixed(1)),
  otherThreadsUsPerRecord: Number(((all.user + all.system - mainUs) / done).toFixed(1)),
  chainOk: chain.ok,
  records: chain.count,
}));
