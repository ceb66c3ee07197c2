/**
 * The operator commands end to end: `ward init` a deployment, `ward server` as a child process,
 * then every `ward cert|secret|policy|audit` command spawned as `node bin/ward.js` inside the
 * deployment directory with no flags (its ward.toml names the server and the admin identity),
 * checking output and exit codes (denied 4, unreachable 5, not found 6, conflict 7).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { BIN, cleanEnv, freePort, initDeployment, startWardServer, type Deployment, type RunningServer } from '../client/deployment.ts';
import { makePki } from '../client/fixtures.ts';

let dep: Deployment;
let server: RunningServer;

interface Result {
  status: number | null;
  stdout: Buffer;
  out: string;
  err: string;
}

/** `ward ARGS` in the deployment directory, with a clean environment plus `env`. */
function ward(args: string[], o: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: o.cwd ?? dep.dir, env: cleanEnv(o.env), input: o.input ?? '', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8') };
}

function ok(args: string[], o: Parameters<typeof ward>[1] = {}): Result {
  const r = ward(args, o);
  assert.equal(r.status, 0, `ward ${args.join(' ')} exited ${r.status}: ${r.err}`);
  return r;
}

function fails(args: string[], exit: number, code: string, o: Parameters<typeof ward>[1] = {}): Result {
  const r = ward(args, o);
  assert.equal(r.status, exit, `ward ${args.join(' ')}: expected exit ${exit}, got ${r.status}: ${r.err}`);
  assert.match(r.err, new RegExp(`\\(${code}\\)`), r.err);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace without --debug');
  return r;
}

before(async () => {
  dep = initDeployment();
  const port = await freePort();
  const toml = join(dep.dir, 'ward.toml');
  // what an operator does after `ward init` on a busy machine: pick the port in ward.toml
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('listen = "127.0.0.1:8443"', `listen = "127.0.0.1:${port}"`).replace('server = "https://localhost:8443"', `server = "https://localhost:${port}"`));
  server = await startWardServer(dep, port);
});

after(async () => {
  await server?.stop();
  dep?.remove();
});

describe('ward secret', () => {
  test('set from stdin and get it back byte for byte, with no flags inside the deployment', () => {
    const set = ok(['secret', 'set', 'shop/prod/DB_PASSWORD'], { input: 'hunter2' });
    assert.match(set.err, /stored shop\/prod\/DB_PASSWORD version 1/);
    assert.equal(set.out, '', 'nothing on stdout');
    assert.equal(ok(['secret', 'get', 'shop/prod/DB_PASSWORD']).out, 'hunter2');
  });

  test('binary values from --from-file, delivered as files, round-trip exactly', () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
    const file = join(dep.root, 'blob.bin');
    writeFileSync(file, bytes);
    ok(['secret', 'set', 'shop/prod/blob', '--from-file', file, '--file']);
    assert.ok(ok(['secret', 'get', 'shop/prod/blob']).stdout.equals(bytes));
    const meta = JSON.parse(ok(['secret', 'get', 'shop/prod/blob', '--json']).out) as Record<string, unknown>;
    assert.deepEqual({ ...meta, createdAt: typeof meta.createdAt }, { app: 'shop', env: 'prod', name: 'blob', version: 1, kind: 'file', sealed: false, createdAt: 'string', size: 4096 });
  });

  test('--cas: 0 means must not exist; a stale version is a conflict (exit 7)', () => {
    ok(['secret', 'set', 'shop/prod/API_KEY', '--cas', '0'], { input: 'k1' });
    fails(['secret', 'set', 'shop/prod/API_KEY', '--cas', '0'], 7, 'ERR_API_CONFLICT', { input: 'k2' });
    ok(['secret', 'set', 'shop/prod/API_KEY', '--cas', '1'], { input: 'k2' });
    fails(['secret', 'set', 'shop/prod/API_KEY', '--cas', '1'], 7, 'ERR_API_CONFLICT', { input: 'k3' });
    assert.equal(ok(['secret', 'get', 'shop/prod/API_KEY']).out, 'k2');
  });

  test('versions, history and rollback', () => {
    assert.equal(ok(['secret', 'get', 'shop/prod/API_KEY', '--version=1']).out, 'k1');
    const history = ok(['secret', 'history', 'shop/prod/API_KEY']).out.trim().split('\n');
    assert.match(history[0]!, /^VERSION\s+CREATED\s+BY\s+KIND\s+STATE$/);
    assert.equal(history.length, 3);
    assert.match(history[1]!, /^1\s+\S+Z\s+spiffe:\/\/ward\.local\/admin\/admin\s+env\s+live$/);
    const rb = JSON.parse(ok(['secret', 'rollback', 'shop/prod/API_KEY', '1', '--json']).out) as { version: number };
    assert.equal(rb.version, 3);
    assert.equal(ok(['secret', 'get', 'shop/prod/API_KEY']).out, 'k1');
    fails(['secret', 'rollback', 'shop/prod/API_KEY', '99'], 6, 'ERR_API_NOT_FOUND');
  });

  test('ls: a table, or JSON; scoped to APP or APP/ENV', () => {
    ok(['secret', 'set', 'shop/dev/DB_PASSWORD'], { input: 'dev' });
    const table = ok(['secret', 'ls', 'shop']).out.trim().split('\n');
    assert.match(table[0]!, /^PATH\s+VERSION\s+KIND\s+UPDATED$/);
    const paths = table.slice(1).map((l) => l.split(/\s+/)[0]);
    assert.deepEqual([...paths].sort(), ['shop/dev/DB_PASSWORD', 'shop/prod/API_KEY', 'shop/prod/DB_PASSWORD', 'shop/prod/blob']);
    const prod = JSON.parse(ok(['secret', 'ls', 'shop/prod', '--json']).out) as { name: string; currentVersion: number }[];
    assert.deepEqual(prod.map((i) => i.name).sort(), ['API_KEY', 'DB_PASSWORD', 'blob']);
    assert.equal(prod.find((i) => i.name === 'API_KEY')!.currentVersion, 3);
    assert.equal(ok(['secret', 'ls', 'nothing-here']).out.trim(), 'PATH  VERSION  KIND  UPDATED');
  });

  test('rm is soft (undelete restores), rm --destroy erases the values', () => {
    ok(['secret', 'set', 'shop/prod/TEMP'], { input: 'tmp' });
    ok(['secret', 'rm', 'shop/prod/TEMP']);
    fails(['secret', 'get', 'shop/prod/TEMP'], 6, 'ERR_API_NOT_FOUND');
    assert.match(ok(['secret', 'ls', 'shop/prod', '--deleted']).out, /shop\/prod\/TEMP\s+1\s+env\s+\S+Z\s+\S+Z/);
    ok(['secret', 'undelete', 'shop/prod/TEMP']);
    assert.equal(ok(['secret', 'get', 'shop/prod/TEMP']).out, 'tmp');
    const destroyed = ok(['secret', 'rm', 'shop/prod/TEMP', '--destroy']);
    assert.match(destroyed.err, /destroyed 1 version/);
    ok(['secret', 'undelete', 'shop/prod/TEMP']);
    fails(['secret', 'get', 'shop/prod/TEMP'], 6, 'ERR_API_NOT_FOUND');
  });

  test('on a terminal the value is asked for twice without echo (util-linux script provides the terminal)', async () => {
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} secret set shop/prod/TYPED`, '/dev/null'], { cwd: dep.dir, env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8');
    const waitFor = (text: string) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} on the terminal: ${screen}`)), 30_000);
      const check = () => {
        if (!screen.includes(text)) return;
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve();
      };
      const onData = (d: string) => {
        screen += d;
        check();
      };
      child.stdout.on('data', onData);
      check();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // answer as soon as the prompt shows: echo must already be off by then
    try {
      await waitFor('(not echoed):');
      child.stdin.write('typed-secret\r');
      await waitFor('again, to confirm:');
      child.stdin.write('typed-secret\r');
      await waitFor('stored shop/prod/TYPED version 1');
    } finally {
      child.stdin.end();
    }
    assert.equal(await exited, 0, screen);
    assert.doesNotMatch(screen, /typed-secret/, 'nothing echoed');
    assert.equal(ok(['secret', 'get', 'shop/prod/TYPED']).out, 'typed-secret');
  });

  test('bad usage is exit 2 before any request; values never come from arguments', () => {
    fails(['secret', 'get', 'shop/prod'], 2, 'ERR_USAGE');
    fails(['secret', 'set', 'shop/prod/X'], 2, 'ERR_USAGE', { input: '' });
    fails(['secret', 'set', 'shop/prod/X', '--cas', 'one'], 2, 'ERR_USAGE', { input: 'v' });
    const r = ward(['secret', 'set', 'shop/prod/X', 'the-value']);
    assert.equal(r.status, 2, 'a value argument is refused');
  });
});

describe('ward cert, policy and a workload', () => {
  let web: string;

  test('cert issue writes an identity directory (0700, key 0600) and refuses to overwrite it', () => {
    web = join(dep.root, 'web-1');
    const r = ok(['cert', 'issue', 'web-1', '--app', 'shop', '--env', 'prod', '--ttl', '24h', '--out', web, '--json']);
    const issued = JSON.parse(r.out) as { dir: string; spiffeId: string; serial: string; notAfter: string };
    assert.equal(issued.dir, web);
    assert.equal(issued.spiffeId, 'spiffe://ward.local/app/shop/env/prod/web-1');
    const hours = (Date.parse(issued.notAfter) - Date.now()) / 3_600_000;
    assert.ok(hours > 23 && hours <= 24.1, `ttl honoured: ${hours}h`);
    assert.equal(statSync(web).mode & 0o777, 0o700);
    assert.equal(statSync(join(web, 'key.pem')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(web, 'ca.pem'), 'utf8'), readFileSync(join(dep.dir, 'ca', 'ca.crt'), 'utf8'));
    fails(['cert', 'issue', 'web-1', '--app', 'shop', '--env', 'prod', '--out', web], 7, 'ERR_EXISTS');
    fails(['cert', 'issue', 'web-2', '--app', 'shop'], 2, 'ERR_USAGE');
    fails(['cert', 'issue', 'web-2', '--app', 'shop', '--env', 'prod', '--role', 'root'], 2, 'ERR_USAGE');
  });

  test('an admin certificate issued by the admin works as an admin identity', () => {
    const ops = join(dep.root, 'ops');
    const issued = JSON.parse(ok(['cert', 'issue', 'ops', '--role', 'admin', '--out', ops, '--json']).out) as { spiffeId: string };
    assert.equal(issued.spiffeId, 'spiffe://ward.local/admin/ops');
    fails(['cert', 'issue', 'ops2', '--role', 'admin', '--app', 'shop'], 2, 'ERR_USAGE');
    assert.match(ok(['cert', 'ls'], { env: { WARD_IDENTITY: ops } }).out, /^ops\s+admin\s+spiffe:\/\/ward\.local\/admin\/ops\s/m);
  });

  test('cert ls lists it', () => {
    const lines = ok(['cert', 'ls']).out.split('\n');
    assert.match(lines[0]!, /^NAME\s+ROLE\s+SPIFFE ID\s+SERIAL\s+EXPIRES\s+STATUS$/);
    assert.ok(lines.some((l) => /^web-1\s+workload\s+spiffe:\/\/ward\.local\/app\/shop\/env\/prod\/web-1\s+[0-9a-f]+\s+\S+Z\s+valid$/.test(l)), lines.join('\n'));
    const json = JSON.parse(ok(['cert', 'ls', '--json']).out) as { name: string }[];
    assert.ok(json.some((c) => c.name === 'admin'));
  });

  test('cert ls prints every certificate, fetched page by page (1,000 a page)', () => {
    const bulk = 2100;
    const db = new DatabaseSync(join(dep.dir, 'data', 'ward.db'));
    let total: number;
    let auditHead: number;
    try {
      db.exec('PRAGMA busy_timeout = 10000');
      // old records, so the real certificates come on the last page
      const insert = db.prepare(`INSERT INTO certificates (serial, name, spiffe_id, app, env, role, not_before, not_after, fingerprint, issued_at, revoked_at)
        VALUES (?, ?, ?, 'bulk', 'prod', 'workload', 1, 2, ?, ?, NULL)`);
      db.exec('BEGIN');
      for (let i = 0; i < bulk; i++) insert.run(`b${String(i).padStart(6, '0')}`, `bulk-${i}`, `spiffe://ward.local/app/bulk/env/prod/bulk-${i}`, 'f'.repeat(64), 1000 + i);
      db.exec('COMMIT');
      total = (db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n;
      auditHead = (db.prepare('SELECT max(seq) AS seq FROM audit').get() as { seq: number }).seq;
    } finally {
      db.close();
    }
    const json = JSON.parse(ok(['cert', 'ls', '--json']).out) as { serial: string; name: string }[];
    assert.equal(json.length, total);
    assert.equal(new Set(json.map((c) => c.serial)).size, total, 'no certificate twice');
    assert.deepEqual(json.slice(0, bulk).map((c) => c.name), Array.from({ length: bulk }, (_, i) => `bulk-${i}`), 'in issue order');
    assert.ok(json.slice(bulk).some((c) => c.name === 'web-1'));
    const lines = ok(['cert', 'ls']).out.trimEnd().split('\n');
    assert.equal(lines.length, total + 1, 'a header and one line per certificate');
    assert.match(lines[1]!, /^bulk-0\s+workload\s+spiffe:\/\/ward\.local\/app\/bulk\/env\/prod\/bulk-0\s+b000000\s/);
    // each `cert ls` asked three pages: 1,000 + 1,000 + the rest
    const check = new DatabaseSync(join(dep.dir, 'data', 'ward.db'), { readOnly: true });
    try {
      const pages = check.prepare("SELECT detail FROM audit WHERE seq > ? AND operation = 'cert.list' ORDER BY seq").all(auditHead).map((r) => r.detail);
      const rest = `certificates=${total - 2000}`;
      assert.deepEqual(pages, ['certificates=1000', 'certificates=1000', rest, 'certificates=1000', 'certificates=1000', rest]);
    } finally {
      check.close();
    }
  });

  test('the workload reads its own APP/ENV and is denied elsewhere (exit 4), even for paths that do not exist', () => {
    const env = { WARD_IDENTITY: web };
    assert.equal(ok(['secret', 'get', 'shop/prod/DB_PASSWORD'], { env }).out, 'hunter2');
    fails(['secret', 'get', 'shop/dev/DB_PASSWORD'], 4, 'ERR_API_DENIED', { env });
    fails(['secret', 'get', 'shop/dev/NO_SUCH'], 4, 'ERR_API_DENIED', { env });
    fails(['secret', 'set', 'shop/prod/DB_PASSWORD'], 4, 'ERR_API_DENIED', { env, input: 'x' });
    fails(['cert', 'ls'], 4, 'ERR_API_DENIED', { env });
  });

  test('policy set (JSON and TOML), ls, explain with exit 0 on allow and 4 on deny', () => {
    const json = join(dep.root, 'shop.json');
    writeFileSync(json, JSON.stringify({
      name: 'shop-dev-read',
      description: 'prod web may read dev',
      rules: [{ name: 'dev-read', effect: 'allow', identities: ['spiffe://ward.local/app/shop/env/prod/*'], operations: ['read'], paths: ['shop/dev/*'] }],
    }));
    ok(['policy', 'set', json]);
    const toml = join(dep.root, 'deny.toml');
    writeFileSync(toml, 'description = "no secrets named ROOT"\n[[rules]]\nname = "no-root"\neffect = "deny"\nidentities = ["spiffe://ward.local/**"]\noperations = ["read"]\npaths = ["*/*/ROOT"]\n');
    ok(['policy', 'set', toml, '--name', 'no-root']);
    const ls = ok(['policy', 'ls']).out;
    assert.match(ls, /^shop-dev-read\s+1\s+\S+Z\s+spiffe:\/\/ward\.local\/admin\/admin\s+prod web may read dev$/m);
    assert.match(ls, /^no-root\s+1\s/m);

    const allow = ok(['policy', 'explain', '--cert', web, 'shop/dev/DB_PASSWORD']);
    assert.match(allow.out, /^allow: read shop\/dev\/DB_PASSWORD by spiffe:\/\/ward\.local\/app\/shop\/env\/prod\/web-1$/m);
    assert.match(allow.out, /^rule:\s+shop-dev-read\/dev-read$/m);
    const deny = ward(['policy', 'explain', '--cert', join(web, 'cert.pem'), 'shop/prod/ROOT']);
    assert.equal(deny.status, 4, deny.err);
    assert.match(deny.out, /^rule:\s+no-root\/no-root$/m);
    const json2 = JSON.parse(ward(['policy', 'explain', '--spiffe-id', 'spiffe://ward.local/app/x/env/y/z', 'shop/dev/A', '--op', 'write', '--json']).out) as { decision: string };
    assert.equal(json2.decision, 'deny');

    const env = { WARD_IDENTITY: web };
    assert.equal(ok(['secret', 'get', 'shop/dev/DB_PASSWORD'], { env }).out, 'dev');
    ok(['policy', 'rm', 'shop-dev-read']);
    fails(['secret', 'get', 'shop/dev/DB_PASSWORD'], 4, 'ERR_API_DENIED', { env });
  });

  test('cert revoke by name cuts the workload off at once', () => {
    const r = ok(['cert', 'revoke', 'web-1']);
    assert.match(r.err, /revoked web-1/);
    const denied = ward(['secret', 'get', 'shop/prod/DB_PASSWORD'], { env: { WARD_IDENTITY: web } });
    assert.equal(denied.status, 4, denied.err);
    assert.match(ok(['cert', 'ls']).out, /^web-1\s.*revoked \S+Z$/m);
    fails(['cert', 'revoke', 'no-such-cert'], 6, 'ERR_API_NOT_FOUND');
  });
});

describe('ward audit', () => {
  test('tail prints the latest records, one line each; --json gives JSON lines', () => {
    const lines = ok(['audit', 'tail', '-n', '3']).out.trim().split('\n');
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /^#\d+ \S+Z \S+ \S+ \S+ by \S+ from \S+/);
    const json = ok(['audit', 'tail', '-n', '5', '--json']).out.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string });
    assert.equal(json.length, 5);
    for (let i = 1; i < json.length; i++) assert.equal(json[i]!.seq, json[i - 1]!.seq + 1);
    assert.match(ok(['audit', 'tail', '-n', '50']).out, /denied secret\.read shop\/dev\/DB_PASSWORD by spiffe:\/\/ward\.local\/app\/shop\/env\/prod\/web-1/);
  });

  test('tail -f follows new records as they are written', async () => {
    const child = spawn(process.execPath, [BIN, 'audit', 'tail', '-n', '0', '-f'], { cwd: dep.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    child.stdout.setEncoding('utf8');
    const got = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: string) => {
        seen += d;
        if (seen.includes('shop/prod/FOLLOWED')) resolve();
      });
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      ok(['secret', 'set', 'shop/prod/FOLLOWED'], { input: 'f' });
      await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error(`not followed: ${seen}`)), 20_000))]);
      assert.match(seen, /granted secret\.write shop\/prod\/FOLLOWED by spiffe:\/\/ward\.local\/admin\/admin/);
      assert.doesNotMatch(seen, /audit\.read/, 'its own polling is hidden');
    } finally {
      child.kill();
    }
  });

  test('verify passes on an intact log and names the first bad record after tampering (exit 3)', () => {
    assert.match(ok(['audit', 'verify']).err, /audit log intact: \d+ records/);
    const db = new DatabaseSync(join(dep.dir, 'data', 'ward.db'));
    try {
      db.prepare("UPDATE audit SET outcome = 'granted' WHERE seq = (SELECT MIN(seq) FROM audit WHERE outcome = 'denied')").run();
      const bad = db.prepare("SELECT MIN(seq) AS seq FROM audit WHERE operation = 'secret.read' AND path = 'shop/dev/DB_PASSWORD' AND outcome = 'granted' AND identity LIKE '%web-1'").get() as { seq: number };
      const r = fails(['audit', 'verify'], 3, 'ERR_AUDIT_CHAIN_BROKEN');
      assert.match(r.err, /audit log broken at record \d+/);
      assert.ok(Number(/record (\d+)/.exec(r.err)![1]) <= bad.seq);
    } finally {
      db.close();
    }
  });
});

describe('finding the server', () => {
  test('flags and environment override ward.toml; unreachable is exit 5', async () => {
    const dead = `https://127.0.0.1:${await freePort()}`;
    fails(['secret', 'ls', '--server', dead], 5, 'ERR_API_UNAVAILABLE');
    fails(['secret', 'ls'], 5, 'ERR_API_UNAVAILABLE', { env: { WARD_SERVER: dead } });
    // failover: the dead one first, then the live one
    ok(['secret', 'ls', '--server', dead, '--server', server.url]);
    ok(['secret', 'ls'], { env: { WARD_SERVER: `${dead},${server.url}` } });
  });

  test('from anywhere with --config, WARD_CONFIG, or --server plus --identity', () => {
    ok(['secret', 'get', 'shop/prod/DB_PASSWORD', '--config', dep.dir], { cwd: dep.root });
    ok(['secret', 'get', 'shop/prod/DB_PASSWORD'], { cwd: dep.root, env: { WARD_CONFIG: join(dep.dir, 'ward.toml') } });
    ok(['secret', 'get', 'shop/prod/DB_PASSWORD', '--server', server.url, '--identity', join(dep.dir, 'admin')], { cwd: dep.root });
    fails(['secret', 'get', 'shop/prod/DB_PASSWORD'], 8, 'ERR_CONFIG', { cwd: dep.root });
  });

  test('a server certificate that does not chain to ca.pem is refused (ERR_TLS_SERVER_UNTRUSTED, exit 5)', async () => {
    const other = await makePki('other.local');
    const id = join(dep.root, 'admin-wrong-ca');
    cpSync(join(dep.dir, 'admin'), id, { recursive: true });
    writeFileSync(join(id, 'ca.pem'), other.ca.certPem);
    fails(['secret', 'ls', '--identity', id], 5, 'ERR_TLS_SERVER_UNTRUSTED');
  });

  test('an identity key readable by others is refused (exit 8) with a chmod hint', () => {
    const id = join(dep.root, 'admin-open');
    cpSync(join(dep.dir, 'admin'), id, { recursive: true });
    chmodSync(join(id, 'key.pem'), 0o644);
    const r = fails(['secret', 'ls', '--identity', id], 8, 'ERR_KEY_INSECURE_PERMISSIONS');
    assert.match(r.err, /hint: chmod 600/);
  });
});

describe('quick start', () => {
  test('examples/quickstart.sh runs from the repository and cleans up after itself', () => {
    const dir = join(dep.root, 'quickstart');
    const r = spawnSync('bash', [fileURLToPath(new URL('../../examples/quickstart.sh', import.meta.url))], {
      env: cleanEnv({ WARD_QUICKSTART_DIR: dir, NO_COLOR: '1' }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^correct horse battery staple$/m);
    assert.match(r.stdout, /^DB_PASSWORD has 28 characters$/m);
    assert.match(r.stderr, /audit log intact/);
    assert.match(r.stderr, /== stopping the server/);
  });
});
