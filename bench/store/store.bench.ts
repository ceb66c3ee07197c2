/**
 * Store hot paths on a real file (fsync included): getEnv of 20 secrets, the batch read behind
 * `ward run`, and appendAudit throughput, with and without concurrency (group commit).
 *
 * Baselines in the same run, alternating rounds, medians:
 * - getEnv against the bare node:sqlite floor: the same prepared join, rows left as SQLite returns them;
 * - appendAudit against one INSERT per transaction with synchronous=FULL (no group commit), i.e.
 *   what a naive per-request audit write costs.
 *
 *   node bench/store/store.bench.ts [rounds]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openSqliteStore, SQL } from '../../src/store/sqlite.ts';
import type { AuditInput } from '../../src/store/types.ts';

const rounds = Number(process.argv[2] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'ward-bench-store-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Runs `fn` in batches of 100 for `ms`; returns wall-clock ops/s and CPU µs per op (less noisy on a shared machine). */
async function timeLoop(ms: number, fn: () => unknown): Promise<{ rate: number; cpu: number }> {
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 100; i++) await fn();
    ops += 100;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  return { rate: (ops / (now - start)) * 1000, cpu: (cpu.user + cpu.system) / ops };
}

const entry = (i: number): AuditInput => ({
  time: Date.now(), identity: `spiffe://bench/app/web/env/prod/i${i % 50}`, serial: '0a1b2c3d', source: '10.1.2.3',
  operation: 'secret.read', path: 'web/prod/*', outcome: 'granted', detail: 'revision=7 secrets=20',
});

try {
  const path = join(dir, 'ward.db');
  const store = await openSqliteStore(path);
  const value = Buffer.alloc(12 + 48 + 16, 7);
  const wrapped = Buffer.alloc(60, 9);
  for (let app = 0; app < 50; app++) {
    for (let i = 0; i < 20; i++) {
      await store.putSecret({ app: app === 0 ? 'web' : `app${app}`, env: 'prod', name: `SECRET_${i}` }, () => ({
        ciphertext: value, wrappedKey: wrapped, keyId: 'kek-1', format: 1, kind: 'env', sealed: false, createdBy: 'bench',
      }));
    }
  }

  // getEnv: the store's method (promise + Buffer mapping) against the bare prepared statement.
  const bare = new DatabaseSync(path);
  const bareStmt = bare.prepare(SQL.getEnv);
  bareStmt.setReturnArrays(true);
  let sink = 0;
  const ward: { rate: number; cpu: number }[] = [];
  const floor: { rate: number; cpu: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    // the store's method is async: awaited, as the server calls it
    ward.push(await timeLoop(500, async () => (sink += (await store.getEnv('web', 'prod')).length)));
    floor.push(await timeLoop(500, () => (sink += bareStmt.all('web', 'prod').length)));
  }
  if (sink === 0) throw new Error('no rows');
  bare.close();
  const w = median(ward.map((x) => x.rate));
  const b = median(floor.map((x) => x.rate));
  const wc = median(ward.map((x) => x.cpu));
  const bc = median(floor.map((x) => x.cpu));
  console.log(`getEnv(20 secrets): ward ${fmt(w)} ops/s (${wc.toFixed(1)} µs CPU each), bare node:sqlite ${fmt(b)} ops/s (${bc.toFixed(1)} µs CPU), ratio ${(w / b).toFixed(2)}`);

  // appendAudit throughput.
  const naivePath = join(dir, 'naive.db');
  const naive = new DatabaseSync(naivePath);
  naive.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE audit (seq INTEGER PRIMARY KEY, body TEXT, hash TEXT)');
  const naiveInsert = naive.prepare('INSERT INTO audit (body, hash) VALUES (?, ?)');
  const seqRates: number[] = [];
  const groupRates: number[] = [];
  const naiveRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    let start = performance.now();
    while (performance.now() - start < 500) await store.appendAudit([entry(n++)]);
    seqRates.push((n / (performance.now() - start)) * 1000);

    // 200 closed-loop callers, each one append at a time (like 200 concurrent requests)
    n = 0;
    start = performance.now();
    const deadline = start + 1000;
    await Promise.all(Array.from({ length: 200 }, async () => {
      while (performance.now() < deadline) {
        await store.appendAudit([entry(n)]);
        n++;
      }
    }));
    groupRates.push((n / (performance.now() - start)) * 1000);

    naiveRates.push((await timeLoop(500, () => {
      naive.exec('BEGIN IMMEDIATE');
      naiveInsert.run(JSON.stringify(entry(0)), 'x'.repeat(64));
      naive.exec('COMMIT');
    })).rate);
  }
  naive.close();
  console.log(`appendAudit, 1 caller: ${fmt(median(seqRates))} records/s; 200 concurrent callers (group commit): ${fmt(median(groupRates))} records/s`);
  console.log(`baseline, one fsynced INSERT transaction per record: ${fmt(median(naiveRates))} records/s; group commit ratio ${(median(groupRates) / median(naiveRates)).toFixed(1)}`);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
