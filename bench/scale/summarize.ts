/**
 * Reads a scale run's JSON lines (DIR/seed.jsonl, results.jsonl, list.jsonl) and prints the
 * medians: seed times; batch reads per pattern and backend at 100 and 100,000 secrets with the
 * issue's bar (p99 at 100,000 ≤ 2× p99 at 100); two PostgreSQL replicas against one SQLite server;
 * list paging.
 *
 *   node bench/scale/summarize.ts DIR
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: summarize.ts DIR');
const lines = <T>(file: string): T[] => {
  const path = join(dir, file);
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T) : [];
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Seed { store: string; secrets: number; secretSeconds: number; secretsPerSecond: number; certificates: number; revoked: number; certSeconds: number }
interface Run { label: string; pattern: string; servers: number; rps: number; p50ms: number; p99ms: number; serverCpuUsPerReq: number; dbCpuUsPerReq: number; errors: number; bad: number; load1: number }
interface List { label: string; limit: number; pages: number; items: number; totalS: number; firstPageMs: number; medianPageMs: number; maxPageMs: number; certs: number; certsBytes: number; certsMs: number; certsPages?: number; certsMaxPageMs?: number }

const out: string[] = [];
for (const s of lines<Seed>('seed.jsonl')) {
  out.push(`seed     ${s.store.padEnd(8)} ${String(s.secrets).padStart(6)} secrets ${s.secretSeconds}s (${s.secretsPerSecond}/s), ${s.certificates} certificate records (${s.revoked} revoked) ${s.certSeconds}s`);
}
const runs = lines<Run>('results.jsonl');
const stat = (rs: Run[]) => {
  const m = (k: 'rps' | 'p50ms' | 'p99ms' | 'serverCpuUsPerReq' | 'dbCpuUsPerReq') => median(rs.map((r) => r[k]));
  return {
    rps: m('rps'), p50: m('p50ms'), p99: m('p99ms'), cpu: m('serverCpuUsPerReq'), db: m('dbCpuUsPerReq'),
    failed: rs.reduce((a, r) => a + r.errors + r.bad, 0),
    text: `runs=${rs.length} rps=${m('rps')} p50=${m('p50ms')}ms p99=${m('p99ms')}ms ward=${m('serverCpuUsPerReq')}us/req db=${m('dbCpuUsPerReq')}us/req errors=${rs.reduce((a, r) => a + r.errors + r.bad, 0)} (all p99: ${rs.map((r) => r.p99ms).join(', ')})`,
  };
};
for (const pattern of ['hot', 'cold']) {
  for (const backend of ['sqlite', 'pg']) {
    const small = runs.filter((r) => r.pattern === pattern && r.label === `${backend}-100`);
    const big = runs.filter((r) => r.pattern === pattern && r.label === `${backend}-100k`);
    if (!small.length || !big.length) continue;
    const a = stat(small);
    const b = stat(big);
    out.push(`read ${pattern.padEnd(4)} ${backend.padEnd(6)} 100      ${a.text}`);
    out.push(`read ${pattern.padEnd(4)} ${backend.padEnd(6)} 100,000  ${b.text}`);
    const ratio = b.p99 / a.p99;
    out.push(`read ${pattern.padEnd(4)} ${backend.padEnd(6)} p99 100,000/100 = ${ratio.toFixed(2)}x (bar <= 2x: ${ratio <= 2 ? 'met' : 'NOT met'}), throughput ${(b.rps / a.rps).toFixed(2)}x`);
  }
  const one = runs.filter((r) => r.pattern === pattern && r.label === 'replicas:sqlite-x1');
  const two = runs.filter((r) => r.pattern === pattern && r.label === 'replicas:pg-x2');
  if (one.length && two.length) {
    const a = stat(one);
    const b = stat(two);
    out.push(`replicas ${pattern.padEnd(4)} sqlite x1 ${a.text}`);
    out.push(`replicas ${pattern.padEnd(4)} pg x2     ${b.text}`);
    out.push(`replicas ${pattern.padEnd(4)} throughput pg x2 / sqlite x1 = ${(b.rps / a.rps).toFixed(2)}x, p99 ${(b.p99 / a.p99).toFixed(2)}x`);
    const pgOne = runs.filter((r) => r.pattern === pattern && r.label === 'pg-100k');
    if (pgOne.length) out.push(`replicas ${pattern.padEnd(4)} throughput pg x2 / pg x1 (same rounds) = ${(b.rps / stat(pgOne).rps).toFixed(2)}x`);
  }
}
for (const l of lines<List>('list.jsonl')) {
  out.push(`list     ${l.label.padEnd(12)} limit=${l.limit} pages=${l.pages} items=${l.items} total=${l.totalS}s first=${l.firstPageMs}ms median=${l.medianPageMs}ms max=${l.maxPageMs}ms per page; GET /v1/certs: ${l.certs} records, ${l.certsBytes} bytes, ${l.certsMs}ms${l.certsPages === undefined ? '' : ` in ${l.certsPages} pages (max ${l.certsMaxPageMs}ms)`}`);
}
if (runs.length) out.push(`load     1-minute load average during the runs: ${Math.min(...runs.map((r) => r.load1))} to ${Math.max(...runs.map((r) => r.load1))}, median ${median(runs.map((r) => r.load1)).toFixed(1)}`);
console.log(out.join('\n'));
