/**
 * Reads loadgen.ts JSON lines on stdin; prints medians per server and mode, and Ward/nginx ratios
 * (throughput: ward ÷ nginx, higher is better; p99: ward ÷ nginx, lower is better).
 */
import { text } from 'node:stream/consumers';

interface Run { label: string; mode: string; rps: number; p50ms: number; p99ms: number; serverCpuUsPerReq: number; errors: number; bad: number; group: string }
const runs = (await text(process.stdin)).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Run);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const out: string[] = [];
for (const mode of ['keepalive', 'handshake']) {
  const pick = (label: string) => runs.filter((r) => r.mode === mode && r.label === label);
  const ward = pick('ward');
  const nginx = pick('nginx');
  if (!ward.length || !nginx.length) continue;
  const m = (rs: Run[], k: 'rps' | 'p50ms' | 'p99ms' | 'serverCpuUsPerReq') => median(rs.map((r) => r[k]));
  for (const [label, rs] of [['ward', ward], ['nginx', nginx]] as const) {
    out.push(`${mode.padEnd(9)} ${label.padEnd(5)} runs=${rs.length} rps=${m(rs, 'rps')} p50=${m(rs, 'p50ms')}ms p99=${m(rs, 'p99ms')}ms cpu=${m(rs, 'serverCpuUsPerReq')}us/req errors=${rs.reduce((a, r) => a + r.errors + r.bad, 0)} group=${rs[0]!.group} (all rps: ${rs.map((r) => r.rps).join(', ')})`);
  }
  out.push(`${mode.padEnd(9)} ratio ward/nginx: throughput ${(m(ward, 'rps') / m(nginx, 'rps')).toFixed(2)}x, p99 ${(m(ward, 'p99ms') / m(nginx, 'p99ms')).toFixed(2)}x, server CPU per request ${(m(ward, 'serverCpuUsPerReq') / m(nginx, 'serverCpuUsPerReq')).toFixed(2)}x`);
  // LAYERS=1: the layers of layers.ts, each against nginx
  for (const label of [...new Set(runs.filter((r) => r.mode === mode).map((r) => r.label))].filter((l) => l !== 'ward' && l !== 'nginx')) {
    const rs = pick(label);
    out.push(`${mode.padEnd(9)} layer ${label.padEnd(12)} runs=${rs.length} rps=${m(rs, 'rps')} cpu=${m(rs, 'serverCpuUsPerReq').toFixed(1)}us/req (${(m(rs, 'serverCpuUsPerReq') / m(nginx, 'serverCpuUsPerReq')).toFixed(2)}x nginx) throughput ${(m(rs, 'rps') / m(nginx, 'rps')).toFixed(2)}x nginx (all rps: ${rs.map((r) => r.rps).join(', ')})`);
  }
}
console.log(out.join('\n'));
