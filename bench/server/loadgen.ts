/**
 * A small mTLS HTTP/1.1 load generator on raw `tls.connect` sockets (PERF-NOTES: an https.Agent
 * client tops out well below what the servers can do).
 *
 *   node bench/server/loadgen.ts --mode keepalive|handshake --host H --port P --path /x
 *        --ca F --cert F --key F [--connections 50] [--pipeline 1] [--seconds 10] [--warmup 2]
 *        [--expect-bytes N] [--label L] [--server-pid PID] [--groups X25519]
 *
 * keepalive: `connections` sockets each keep `pipeline` requests in flight (HTTP/1.1 pipelining)
 * for the whole run. handshake: `connections` workers each loop: connect (full TLS 1.3 handshake
 * with a client certificate), one request with `Connection: close`, read the answer, close.
 * One secure context is built once and shared by every connection.
 *
 * Prints one JSON line: requests/s, p50/p99/max latency (ms), errors, negotiated group, and with
 * --server-pid the server process's CPU time per request (µs; steadier than req/s on a noisy
 * machine).
 */
import { connect, createSecureContext, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { responseParser } from './http1.ts';
import { cpuMs } from '../proc.ts';

const { values: o } = parseArgs({
  options: {
    mode: { type: 'string', default: 'keepalive' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    path: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    connections: { type: 'string', default: '50' },
    pipeline: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'expect-bytes': { type: 'string' },
    label: { type: 'string', default: '' },
    servername: { type: 'string', default: 'localhost' },
    'server-pid': { type: 'string' },
    groups: { type: 'string' },
  },
});

const secureContext = createSecureContext({
  ca: readFileSync(o.ca!),
  cert: readFileSync(o.cert!),
  key: readFileSync(o.key!),
  minVersion: 'TLSv1.3',
  // e.g. X25519 to compare Ward and an nginx whose OpenSSL lacks ML-KEM on the same key exchange
  ...(o.groups ? { ecdhCurve: o.groups } : {}),
});
const port = Number(o.port);
const connections = Number(o.connections);
const pipeline = Number(o.pipeline);
const expectBytes = o['expect-bytes'] === undefined ? undefined : Number(o['expect-bytes']);
const keepAliveRequest = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
const closeRequest = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);

let measuring = false;
let stopped = false;
let done = 0;
let errors = 0;
let badStatus = 0;
let group = '';
const latencies: number[] = [];

function record(status: number, bytes: number, started: bigint) {
  if (status !== 200 || (expectBytes !== undefined && bytes !== expectBytes)) badStatus++;
  if (!measuring) return;
  done++;
  latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
}

function open(): TLSSocket {
  return connect({ host: o.host, port, secureContext, servername: o.servername });
}

function keepAliveConnection(): void {
  const socket = open();
  const sent: bigint[] = [];
  const send = () => {
    sent.push(process.hrtime.bigint());
    socket.write(keepAliveRequest);
  };
  socket.setNoDelay(true);
  socket.on('secureConnect', () => {
    group ||= (socket.getEphemeralKeyInfo() as { name?: string }).name ?? '';
    for (let i = 0; i < pipeline; i++) send();
  });
  socket.on('data', responseParser((status, body) => {
    record(status, body.length, sent.shift()!);
    if (!stopped) send();
  }));
  socket.on('error', () => {
    errors++;
  });
  socket.on('close', () => {
    if (!stopped) {
      errors++;
      keepAliveConnection();
    }
  });
}

function handshakeWorker(): void {
  if (stopped) return;
  const started = process.hrtime.bigint();
  const socket = open();
  let answered = false;
  socket.setNoDelay(true);
  socket.on('secureConnect', () => {
    group ||= (socket.getEphemeralKeyInfo() as { name?: string }).name ?? '';
    socket.write(closeRequest);
  });
  socket.on('data', responseParser((status, body) => {
    answered = true;
    record(status, body.length, started);
    socket.end();
  }));
  socket.on('error', () => {
    if (!answered) errors++;
  });
  socket.on('close', () => handshakeWorker());
}

for (let i = 0; i < connections; i++) (o.mode === 'handshake' ? handshakeWorker : keepAliveConnection)();

/** CPU time (ms) the server process has used so far. */
const serverCpuMs = (): number => (o['server-pid'] === undefined ? NaN : cpuMs(o['server-pid']));

await new Promise((r) => setTimeout(r, Number(o.warmup) * 1000));
measuring = true;
const t0 = process.hrtime.bigint();
const cpu0 = serverCpuMs();
await new Promise((r) => setTimeout(r, Number(o.seconds) * 1000));
measuring = false;
const serverCpu = serverCpuMs() - cpu0;
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
stopped = true;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
console.log(JSON.stringify({
  label: o.label,
  mode: o.mode,
  connections,
  pipeline,
  rps: Math.round(done / elapsed),
  p50ms: Number(q(0.5).toFixed(3)),
  p99ms: Number(q(0.99).toFixed(3)),
  maxms: Number((latencies.at(-1) ?? NaN).toFixed(3)),
  serverCpuUsPerReq: Number(((serverCpu * 1000) / done).toFixed(1)),
  errors,
  bad: badStatus,
  group,
}));
process.exit(0);
