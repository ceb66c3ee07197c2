/**
 * Pages through every secret with the admin list API (`GET /v1/secrets?limit=N&cursor=…`, one
 * keep-alive mTLS connection, as `ward secret ls` would) and prints one JSON line: pages, items,
 * total and per-page times. Fails unless it saw exactly --expect secrets, each once, in order.
 * Also pages through `GET /v1/certs` with the same page size (`ward cert ls`): records, bytes, pages,
 * total and slowest page.
 *
 *   node bench/scale/listpages.ts --port P --ca F --cert F --key F --limit 1000 --expect 100000
 */
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    port: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    limit: { type: 'string', default: '1000' },
    expect: { type: 'string' },
    label: { type: 'string', default: '' },
  },
});
const agent = new Agent({ ca: readFileSync(o.ca!), cert: readFileSync(o.cert!), key: readFileSync(o.key!), keepAlive: true, maxSockets: 1 });

function get(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(o.port), servername: 'localhost', path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode === 200) resolve(text);
        else reject(new Error(`list answered ${res.statusCode}: ${text.slice(0, 200)}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface Item { app: string; env: string; name: string }
// the TLS handshake (and the route's first use) out of the timing
await get('/v1/secrets?limit=1');
const pageMs: number[] = [];
let items = 0;
let last = '';
let cursor: string | null = null;
const started = performance.now();
do {
  const t = performance.now();
  const page = JSON.parse(await get(`/v1/secrets?limit=${o.limit}${cursor ? `&cursor=${cursor}` : ''}`)) as { items: Item[]; next: string | null };
  pageMs.push(performance.now() - t);
  for (const it of page.items) {
    const key = `${it.app}\0${it.env}\0${it.name}`;
    if (key <= last) throw new Error(`out of order or repeated: ${it.app}/${it.env}/${it.name}`);
    last = key;
  }
  items += page.items.length;
  cursor = page.next;
} while (cursor !== null);
const totalMs = performance.now() - started;
let certs = 0;
let certsBytes = 0;
const certPageMs: number[] = [];
let lastCert: [number, string] = [-Infinity, ''];
cursor = null;
const certsStarted = performance.now();
do {
  const t = performance.now();
  const text = await get(`/v1/certs?limit=${o.limit}${cursor ? `&cursor=${cursor}` : ''}`);
  certPageMs.push(performance.now() - t);
  const page = JSON.parse(text) as { certificates: { issuedAt: number; serial: string }[]; next: string | null };
  for (const c of page.certificates) {
    if (c.issuedAt < lastCert[0] || (c.issuedAt === lastCert[0] && c.serial <= lastCert[1])) throw new Error(`certificate out of order or repeated: ${c.serial}`);
    lastCert = [c.issuedAt, c.serial];
  }
  certs += page.certificates.length;
  certsBytes += Buffer.byteLength(text);
  cursor = page.next;
} while (cursor !== null);
const certsMs = performance.now() - certsStarted;
agent.destroy();
if (o.expect !== undefined && items !== Number(o.expect)) throw new Error(`listed ${items} secrets, expected ${o.expect}`);
const sorted = [...pageMs].sort((a, b) => a - b);
console.log(JSON.stringify({
  label: o.label,
  limit: Number(o.limit),
  pages: pageMs.length,
  items,
  totalS: Number((totalMs / 1000).toFixed(2)),
  firstPageMs: Number(pageMs[0]!.toFixed(1)),
  medianPageMs: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(1)),
  maxPageMs: Number(sorted.at(-1)!.toFixed(1)),
  certs,
  certsBytes,
  certsMs: Number(certsMs.toFixed(1)),
  certsPages: certPageMs.length,
  certsMaxPageMs: Number(Math.max(...certPageMs).toFixed(1)),
}));
