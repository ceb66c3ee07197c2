/**
 * `ward server` as a real child process on a deployment made by `ward init`'s library: start-up,
 * health listener, graceful drain on SIGTERM, and a crash (kill -9) in the middle of a burst of
 * writes — after a restart every acknowledged write is there, the database is intact and the
 * audit chain verifies.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { initDeployment } from '../../src/deployment.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { verifyAuditChain, readAllAudit } from '../../src/store/audit-chain.ts';
import { client, b64, type Pki } from './helpers.ts';

const WARD = new URL('../../bin/ward.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'ward-process-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const deployment = await initDeployment({ dir: join(root, 'd') });
const read = (p: string) => readFileSync(join(deployment.dir, p), 'utf8');
const admin = { cert: read('admin/cert.pem'), key: read('admin/key.pem') };
const pkiLike = { ca: { certPem: read('ca/ca.crt') } } as unknown as Pki;

interface Running {
  child: ChildProcess;
  port: number;
  healthPort: number | undefined;
  stderr: () => string;
}

async function startWard(extra: string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [WARD, 'server', '--config', deployment.configPath, '--listen', '127.0.0.1:0', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 20_000;
  while (!/listening on https:\/\/127\.0\.0\.1:(\d+)/.test(err)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ward server did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 50));
  const port = Number(/listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(err)![1]);
  const health = /health on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
  return { child, port, healthPort: health ? Number(health[1]) : undefined, stderr: () => err };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

test('ward server: serves, health listener, records the deployment certificates, drains on SIGTERM', async () => {
  const ward = await startWard(['--health-listen', '127.0.0.1:0']);
  try {
    const c = client({ port: ward.port, pki: pkiLike }, admin);
    const certs = await c.call('GET', '/v1/certs');
    assert.deepEqual(certs.body.certificates.map((r: { role: string }) => r.role).sort(), ['admin', 'server']);
    assert.ok(ward.healthPort);
    const h = (p: string) => fetch(`http://127.0.0.1:${ward.healthPort}${p}`);
    assert.equal((await h('/healthz')).status, 200);
    assert.equal((await h('/readyz')).status, 200);
    const metrics = await (await h('/metrics')).text();
    assert.match(metrics, /ward_http_requests_total\{route="\/v1\/certs",method="GET",outcome="ok"\} 1/);
    assert.match(metrics, /ward_audit_queue_depth 0/);
    // a long-poll is in flight when SIGTERM arrives: it is answered, then the process exits 0
    const poll = c.call('GET', '/v1/audit?after=1000000&wait=2');
    await new Promise((r) => setTimeout(r, 100));
    ward.child.kill('SIGTERM');
    const answer = await poll;
    assert.equal(answer.status, 200);
    assert.deepEqual(await exited(ward.child), { code: 0, signal: null });
    assert.match(ward.stderr(), /SIGTERM: draining/);
    c.close();
  } finally {
    ward.child.kill('SIGKILL');
  }
});

test('crash: kill -9 in the middle of a burst of writes loses no acknowledged write', async () => {
  const ward = await startWard(['--health-listen', '']);
  const c = client({ port: ward.port, pki: pkiLike }, admin);
  const acknowledged = new Map<string, { version: number; value: string }>();
  let stop = false;
  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const name = `K${w}_${i % 5}`;
      const value = `w${w}-i${i}-${'x'.repeat(i % 50)}`;
      try {
        const a = await c.call('PUT', `/v1/secrets/crash/prod/${name}`, { value: b64(value) });
        if (a.status === 200) acknowledged.set(`${name}@${a.body.version}`, { version: a.body.version, value });
      } catch {
        return; // the server died under us
      }
    }
  };
  const writers = Array.from({ length: 16 }, (_, w) => writer(w));
  while (acknowledged.size < 300) await new Promise((r) => setTimeout(r, 5));
  ward.child.kill('SIGKILL');
  stop = true;
  await Promise.all(writers);
  await exited(ward.child);
  c.close();
  assert.ok(acknowledged.size >= 300);

  const again = await startWard(['--health-listen', '']);
  try {
    const c2 = client({ port: again.port, pki: pkiLike }, admin);
    for (const [key, { version, value }] of acknowledged) {
      const name = key.split('@')[0]!;
      const a = await c2.call('GET', `/v1/secrets/crash/prod/${name}?version=${version}`);
      assert.equal(a.status, 200, `${key}: ${a.text}`);
      assert.equal(Buffer.from(a.body.value, 'base64').toString(), value, key);
    }
    const verify = await c2.call('GET', '/v1/audit/verify');
    assert.equal(verify.body.ok, true);
    c2.close();
  } finally {
    again.child.kill('SIGTERM');
    await exited(again.child);
  }
  const db = new DatabaseSync(join(deployment.dir, 'data/ward.db'), { readOnly: true });
  try {
    assert.deepEqual(db.prepare('PRAGMA integrity_check').all().map((r) => ({ ...r })), [{ integrity_check: 'ok' }]);
  } finally {
    db.close();
  }
  const store = await openSqliteStore(join(deployment.dir, 'data/ward.db'));
  try {
    const chain = await verifyAuditChain(readAllAudit(store));
    assert.equal(chain.ok, true);
    // every acknowledged write has its audit record
    assert.ok(chain.count >= acknowledged.size);
  } finally {
    await store.close();
  }
});
