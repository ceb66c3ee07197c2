/**
 * Batch-read load for the scale benchmark: keep-alive mTLS connections spread round-robin over one
 * or more servers (replicas), each sending `GET /v1/env/APP/ENV` back to back. Built like
 * bench/server/loadgen.ts (raw `tls.connect`, one secure context per identity), which drives one
 * path with one identity; this one needs many of each.
 *
 *   node bench/scale/loadgen.ts --ports P1[,P2] --ca F --pattern hot|cold ...
 *
 * hot: connection i reads with workload identity i mod N (the N identities of DIR/identities.jsonl
 *   that have a certificate, key --key) its own env, as `ward run` does; the same N envs exist in
 *   every dataset, so 100 and 100,000 secrets get the very same requests.
 * cold: every connection uses the admin identity (--cert/--key) and reads a random env of the
 *   first --apps apps each time: at 100,000 secrets (10,000 envs) most reads miss the server's
 *   batch cache (1,000 envs, 2 s) and its data-key cache, so they query the store and unwrap.
 *
 * Every answer must be 200 with {@link SECRETS_PER_ENV} secrets (the first of each connection is
 * parsed; the rest must have a plausible length). Prints one JSON line: requests/s, p50/p99/max
 * latency (ms), errors, the 1-minute load average, and the CPU time per request of the
 * --server-pids processes and of the --db-pid one with its children (the PostgreSQL postmaster
 * and its backends), from /proc.
 */
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { appName, envName, ENVS_PER_APP, SECRETS_PER_ENV } from './dataset.ts';
import { responseParser } from '../server/http1.ts';
import { cpuMs, procStat } from '../proc.ts';

const { values: o } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    ports: { type: 'string' },
    ca: { type: 'string' },
    pattern: { type: 'string', default: 'hot' },
    identities: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    apps: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    label: { type: 'string', default: '' },
    'server-pids': { type: 'string' },
    'db-pid': { type: 'string' },
  },
});
const ports = o.ports!.split(',').map(Number);
const ca = readFileSync(o.ca!);
const key = readFileSync(o.key!);
const context = (cert: string | Buffer) => createSecureContext({ ca, cert, key, minVersion: 'TLSv1.3' });

interface Target { context: SecureContext; path: () => string }
const targets: Target[] = [];
if (o.pattern === 'hot') {
  const ids = readFileSync(o.identities!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { app: string; env: string; certPem?: string })
    .filter((r) => r.certPem !== undefined);
  for (const id of ids) {
    const path = `/v1/env/${id.app}/${id.env}`;
    targets.push({ context: context(id.certPem!), path: () => path });
  }
} else if (o.pattern === 'cold') {
  const envs = Number(o.apps) * ENVS_PER_APP;
  const random = () => {
    const e = Math.floor(Math.random() * envs);
    return `/v1/env/${appName(Math.floor(e / ENVS_PER_APP))}/${envName(e % ENVS_PER_APP)}`;
  };
  targets.push({ context: context(readFileSync(o.cert!)), path: random });
} else {
  throw new TypeError('--pattern must be hot or cold');
}
if (targets.length === 0) throw new TypeError('no identity with a certificate');

const connections = Number(o.connections);
let measuring = false;
let stopped = false;
let done = 0;
let errors = 0;
let bad = 0;
const latencies: number[] = [];

/** A batch of the dataset: SECRETS_PER_ENV secrets of 16..48 bytes, so at least this long. */
const MIN_BODY = SECRETS_PER_ENV * 60;

function connection(i: number): void {
  const target = targets[i % targets.length]!;
  const socket = connect({ host: o.host, port: ports[i % ports.length]!, secureContext: target.context, servername: 'localhost' });
  let started = 0n;
  let checked = false;
  const send = () => {
    started = process.hrtime.bigint();
    socket.write(`GET ${target.path()} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  };
  socket.setNoDelay(true);
  socket.on('secureConnect', send);
  socket.on('data', responseParser((status, body) => {
    if (status !== 200 || body.length < MIN_BODY) bad++;
    else if (!checked) {
      checked = true;
      if ((JSON.parse(body.toString()) as { secrets: unknown[] }).secrets.length !== SECRETS_PER_ENV) bad++;
    }
    if (measuring) {
      done++;
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    if (!stopped) send();
  }));
  socket.on('error', () => {
    errors++;
  });
  socket.on('close', () => {
    if (!stopped) {
      errors++;
      connection(i);
    }
  });
}

/**
 * CPU time of `pid` and all its children (PostgreSQL's postmaster and backends): those alive now
 * and those that exited (a pooled connection closed when idle), which the parent has reaped.
 */
function treeCpuMs(pid: string): number {
  let sum = cpuMs(pid, true);
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (procStat(p)[1] === pid) sum += cpuMs(p);
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}
const serverPids = o['server-pids'] ? o['server-pids'].split(',') : [];
const dbPid = o['db-pid'];
const cpu = () => ({
  server: serverPids.reduce((sum, p) => sum + cpuMs(p), 0),
  db: dbPid === undefined ? 0 : treeCpuMs(dbPid),
});

for (let i = 0; i < connections; i++) connection(i);
await new Promise((r) => setTimeout(r, Number(o.warmup) * 1000));
measuring = true;
const t0 = process.hrtime.bigint();
const cpu0 = cpu();
await new Promise((r) => setTimeout(r, Number(o.seconds) * 1000));
measuring = false;
const cpu1 = cpu();
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
stopped = true;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
const perReq = (ms: number) => Number(((ms * 1000) / done).toFixed(1));
console.log(JSON.stringify({
  label: o.label,
  pattern: o.pattern,
  servers: ports.length,
  connections,
  rps: Math.round(done / elapsed),
  p50ms: Number(q(0.5).toFixed(3)),
  p99ms: Number(q(0.99).toFixed(3)),
  maxms: Number((latencies.at(-1) ?? NaN).toFixed(3)),
  serverCpuUsPerReq: perReq(cpu1.server - cpu0.server),
  dbCpuUsPerReq: perReq(cpu1.db - cpu0.db),
  errors,
  bad,
  load1: Number(loadavg()[0]!.toFixed(1)),
}));
process.exit(0);
