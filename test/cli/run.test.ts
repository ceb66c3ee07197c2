/**
 * `ward run` end to end: a real deployment (`ward init`), a real `ward server` process, a workload
 * certificate from `ward cert issue`, secrets from `ward secret set`, and `ward run` spawned as a
 * child process running a small app that reports what it sees.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, BIN, cleanEnv, freePort, initDeployment, startWardServer, type Deployment, type RunningServer } from '../client/deployment.ts';

const TMPFS_MAGIC = 0x01021994;

// The app: prints one JSON line describing itself, then optionally stays (APP_HOLD) and reports
// SIGHUP (re-reading its file) and SIGTERM (exit 42) as further lines.
const APP = `
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
const fds = readdirSync('/proc/self/fd').filter((fd) => Number(fd) > 2).map((fd) => { try { return readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } });
const dir = process.env.WARD_FILES;
const files = {};
if (dir) for (const n of readdirSync(dir)) { const p = join(dir, n); if (statSync(p).isFile()) files[n] = { text: readFileSync(p, 'utf8'), mode: statSync(p).mode & 0o777 }; }
const pick = (k) => process.env[k];
console.log(JSON.stringify({ event: 'start', pid: process.pid, dir, files, fds,
  env: { DB_PASSWORD: pick('DB_PASSWORD'), db_url: pick('db_url'), PRESET: pick('PRESET'), REF: pick('REF'), API_KEY: pick('API_KEY'), ENCRYPTED_API_KEY: pick('ENCRYPTED_API_KEY') } }));
process.on('SIGHUP', () => console.log(JSON.stringify({ event: 'hup', key: readFileSync(join(dir, 'tls.key'), 'utf8') })));
process.on('SIGTERM', () => { console.log(JSON.stringify({ event: 'term' })); process.exit(42); });
if (process.env.APP_HOLD) setTimeout(() => process.exit(0), Number(process.env.APP_HOLD));
`;

let dep: Deployment;
let port: number;
let server: RunningServer;
let identity: string;
let appPath: string;
const SECRET = 'correct-horse-battery-staple';

before(async () => {
  dep = initDeployment();
  port = await freePort();
  server = await startWardServer(dep, port);
  const ops = admin(dep, server.url);
  identity = ops.issue('web-1', 'shop', 'prod', join(dep.root, 'web-1'));
  ops.set('shop/prod/DB_PASSWORD', SECRET);
  ops.set('shop/prod/db.url', 'postgres://db/shop');
  ops.set('shop/prod/tls.key', 'KEY-1', { file: true });
  ops.set('shop/prod/STORE_PASSWORD', 'store-pw');
  ops.set('other/prod/TOKEN', 'other-token-value');
  appPath = join(dep.root, 'app.mjs');
  writeFileSync(appPath, APP);
  writeFileSync(join(dep.root, 'app.conf.tmpl'), 'url = "postgres://shop:{{ DB_PASSWORD }}@db/shop"\n');
});

after(async () => {
  await server?.stop();
  dep?.remove();
});

interface Started {
  child: ChildProcess;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  waitFor: (event: string, pred?: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}

function runWard(args: string[], env: Record<string, string> = {}): Started {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'run', ...args, '--', process.execPath, appPath], {
    env: cleanEnv({ WARD_IDENTITY: identity, WARD_SERVER: server.url, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const exit = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, ms: performance.now() - t0 }));
  const waitFor = async (event: string, pred: (l: Record<string, unknown>) => boolean = () => true) => {
    const end = Date.now() + 20_000;
    for (;;) {
      const hit = lines().find((l) => l.event === event && pred(l));
      if (hit) return hit;
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${event} line; stdout ${out} stderr ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { child, lines, stderr: () => err, exit, waitFor };
}

function secureStore(plain: string, password: string): string {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', createHash('sha256').update(password).digest(), nonce);
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]).toString('hex');
}

test('the app sees its secrets as variables and 0400 files on tmpfs, under Ward\'s own PID', async () => {
  const r = runWard(['--template', `${join(dep.root, 'app.conf.tmpl')}:conf/app.conf`], { PRESET: 'mine', APP_HOLD: '1500', REF: 'ward:shop/prod/DB_PASSWORD', ENCRYPTED_API_KEY: secureStore('api-key-value', 'store-pw') });
  const start = await r.waitFor('start');
  // the app runs under the PID `ward run` was started with (execve, no child process)
  assert.equal(start.pid, r.child.pid);
  assert.deepEqual((start.fds as string[]).filter((f) => f.startsWith('socket:')), [], 'no connection to the server survives the hand-over');
  const cmdline = readFileSync(`/proc/${r.child.pid}/cmdline`, 'utf8');
  assert.ok(cmdline.includes('app.mjs'));
  for (const secret of [SECRET, 'KEY-1', 'api-key-value', 'store-pw']) assert.ok(!cmdline.includes(secret), 'no plaintext in the command line');
  const env = start.env as Record<string, string>;
  assert.equal(env.DB_PASSWORD, SECRET);
  assert.equal(env.db_url, 'postgres://db/shop', 'db.url maps to db_url');
  assert.equal(env.PRESET, 'mine');
  assert.equal(env.REF, SECRET, 'ward: reference resolved');
  assert.equal(env.API_KEY, 'api-key-value', 'ENCRYPTED_ decrypted');
  assert.equal(env.ENCRYPTED_API_KEY, undefined);
  const files = start.files as Record<string, { text: string; mode: number }>;
  assert.deepEqual(files['tls.key'], { text: 'KEY-1', mode: 0o400 });
  assert.equal(files.DB_PASSWORD, undefined, 'env secrets are not files');
  const conf = join(start.dir as string, 'conf/app.conf');
  assert.equal(readFileSync(conf, 'utf8'), `url = "postgres://shop:${SECRET}@db/shop"\n`, 'template rendered');
  assert.equal(statSync(conf).mode & 0o777, 0o400);
  assert.equal(statfsSync(start.dir as string).type, TMPFS_MAGIC);
  const { code } = await r.exit;
  assert.equal(code, 0);
});

test('the app gets default signal dispositions, not the ones Node ignores (SIGPIPE, SIGXFSZ)', () => {
  const r = spawnSync(process.execPath, [BIN, 'run', '--', '/bin/grep', '^SigIgn:', '/proc/self/status'], {
    env: cleanEnv({ WARD_IDENTITY: identity, WARD_SERVER: server.url }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^SigIgn:\s+0+$/m);
});

test('a disk-backed --files directory is refused (exit 2) unless --allow-disk', async (t) => {
  // the temp dir may itself be a tmpfs (some CI runners): then use the checkout's disk
  const parent = statfsSync(dep.root).type === TMPFS_MAGIC ? mkdtempSync(join(process.cwd(), '.ward-disk-')) : dep.root;
  t.after(() => parent !== dep.root && rmSync(parent, { recursive: true, force: true }));
  assert.notEqual(statfsSync(parent).type, TMPFS_MAGIC, 'need a disk-backed directory for this test');
  const disk = join(parent, 'files-on-disk');
  const r = runWard(['--files', disk]);
  assert.equal((await r.exit).code, 2, r.stderr());
  assert.match(r.stderr(), /not memory-backed.*ERR_RUN_DISK/);
  assert.deepEqual(r.lines(), []);
  const ok = runWard(['--files', disk, '--allow-disk']);
  assert.equal(((await ok.waitFor('start')).files as Record<string, { text: string }>)['tls.key']?.text, 'KEY-1');
  assert.equal((await ok.exit).code, 0);
});

test('an existing variable wins unless --override', async () => {
  const kept = runWard([], { DB_PASSWORD: 'preset' });
  assert.equal(((await kept.waitFor('start')).env as Record<string, string>).DB_PASSWORD, 'preset');
  await kept.exit;
  const over = runWard(['--override'], { DB_PASSWORD: 'preset' });
  assert.equal(((await over.waitFor('start')).env as Record<string, string>).DB_PASSWORD, SECRET);
  await over.exit;
});

test('a denied reference stops the start: exit 4, naming the variable and path, not the value', async () => {
  const r = runWard([], { REF: 'ward:other/prod/TOKEN' });
  const { code } = await r.exit;
  assert.equal(code, 4, r.stderr());
  assert.match(r.stderr(), /REF refers to other\/prod\/TOKEN/);
  assert.ok(!r.stderr().includes('other-token-value'));
  assert.deepEqual(r.lines(), [], 'the app never started');
  const app = runWard(['--app', 'other', '--env', 'prod']);
  assert.equal((await app.exit).code, 4, app.stderr());
  assert.match(app.stderr(), /other\/prod/);
});

test('a tampered ENCRYPTED_ value stops the start: exit 3, naming the variable', async () => {
  const good = secureStore('api-key-value', 'store-pw');
  const bad = good.slice(0, 30) + (good[30] === '0' ? '1' : '0') + good.slice(31);
  const r = runWard([], { ENCRYPTED_API_KEY: bad });
  assert.equal((await r.exit).code, 3, r.stderr());
  assert.match(r.stderr(), /ENCRYPTED_API_KEY/);
  assert.ok(!r.stderr().includes(bad) && !r.stderr().includes('store-pw'));
  assert.deepEqual(r.lines(), []);
  const allowed = runWard(['--allow-missing'], { ENCRYPTED_API_KEY: bad });
  const start = await allowed.waitFor('start');
  assert.equal((start.env as Record<string, string>).API_KEY, undefined);
  assert.match(allowed.stderr(), /--allow-missing: starting without ENCRYPTED_API_KEY/);
  await allowed.exit;
});

test('two servers, the first down: the second is used', async () => {
  const dead = `https://127.0.0.1:${await freePort()}`;
  const r = runWard([], { WARD_SERVER: `${dead},${server.url}` });
  assert.equal(((await r.waitFor('start')).env as Record<string, string>).DB_PASSWORD, SECRET);
  assert.equal((await r.exit).code, 0);
});

test('no server ever: exit 5 within --wait plus a second, each attempt logged', async () => {
  const r = runWard(['--wait', '3s'], { WARD_SERVER: `https://127.0.0.1:${await freePort()}` });
  const { code, ms } = await r.exit;
  assert.equal(code, 5, r.stderr());
  assert.ok(ms < 4000, `took ${ms} ms`);
  assert.ok(ms >= 2900, `gave up early: ${ms} ms`);
  assert.match(r.stderr(), /attempt 1: cannot reach https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); retrying in/);
  assert.match(r.stderr(), /gave up waiting for a server after 3\.0s/);
  assert.ok(!r.stderr().includes(SECRET));
});

test('the server comes up 5 s after ward run starts: it waits and succeeds', async () => {
  await server.stop();
  const r = runWard(['--wait', '60s']);
  await new Promise((res) => setTimeout(res, 5000));
  assert.equal(r.child.exitCode, null, 'still waiting');
  assert.deepEqual(r.lines(), []);
  server = await startWardServer(dep, port);
  const start = await r.waitFor('start');
  assert.equal((start.env as Record<string, string>).DB_PASSWORD, SECRET);
  const { code, ms } = await r.exit;
  assert.equal(code, 0);
  assert.ok(ms > 5000);
  assert.match(r.stderr(), /attempt \d+: cannot reach/);
});

test('--watch: a changed secret reaches the app (file re-rendered, SIGHUP); SIGTERM reaches it; its code comes back', async () => {
  const r = runWard(['--watch', '--on-change', 'hup', '--debounce', '200ms'], { APP_HOLD: '30000' });
  const start = await r.waitFor('start');
  assert.notEqual(start.pid, r.child.pid, 'supervised: the app is Ward\'s child');
  assert.equal((start.files as Record<string, { text: string }>)['tls.key']?.text, 'KEY-1');
  admin(dep, server.url).set('shop/prod/tls.key', 'KEY-2', { file: true });
  const hup = await r.waitFor('hup', (l) => l.key === 'KEY-2');
  assert.equal(hup.key, 'KEY-2');
  // the server restarts: the watch reconnects and keeps delivering
  await server.stop();
  server = await startWardServer(dep, port);
  admin(dep, server.url).set('shop/prod/tls.key', 'KEY-3', { file: true });
  await r.waitFor('hup', (l) => l.key === 'KEY-3');
  r.child.kill('SIGTERM');
  await r.waitFor('term');
  const { code } = await r.exit;
  assert.equal(code, 42);
  admin(dep, server.url).set('shop/prod/tls.key', 'KEY-1', { file: true });
});

test('the words after -- are the app\'s, --debug included', () => {
  const r = spawnSync(process.execPath, [BIN, 'run', '--', '/bin/echo', '--debug', 'x'], {
    env: cleanEnv({ WARD_IDENTITY: identity, WARD_SERVER: server.url }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '--debug x\n');
});

test('flags and WARD_* variables: flags win, lists split on commas, bad values are usage errors', async () => {
  const { parseRun } = await import('../../src/cli/commands/run.ts');
  const flags = { server: [] as string[], identity: [] as string[], wait: '60s', template: [] as string[], unlock: [] as string[], envFile: [] as string[], onChange: 'hup', debounce: '1s' };
  const env = { WARD_SERVER: 'https://a:1, https://b:2', WARD_IDENTITY: '/id', WARD_APP: 'shop', WARD_ENV: 'prod' };
  const r = parseRun(flags, ['app', '--flag'], env);
  assert.deepEqual([r.servers, r.identityDir, r.app, r.env, r.waitMs, r.debounceMs, r.command], [['https://a:1', 'https://b:2'], '/id', 'shop', 'prod', 60_000, 1000, ['app', '--flag']]);
  const f = parseRun({ ...flags, server: ['https://c:3'], identity: ['/mine'], app: 'x', env: 'y', wait: '0', onChange: 'restart', watch: true }, ['app'], env);
  assert.deepEqual([f.servers, f.identityDir, f.app, f.env, f.waitMs, f.onChange, f.watch], [['https://c:3'], '/mine', 'x', 'y', 0, 'restart', true]);
  assert.equal(parseRun(flags, ['app'], { ...env, WARD_APP: '' }).app, undefined, 'empty WARD_APP: from the certificate');
  for (const [fl, cmd, e] of [
    [flags, ['app'], { WARD_IDENTITY: '/id' }],
    [flags, ['app'], { WARD_SERVER: 'https://a:1' }],
    [{ ...flags, onChange: 'reload' }, ['app'], env],
    [{ ...flags, wait: 'soon' }, ['app'], env],
    [flags, [], env],
  ] as const) {
    assert.throws(() => parseRun(fl as typeof flags, [...cmd], e), { code: 'ERR_USAGE' });
  }
});

test('a template referring to a secret the workload may not read: exit 4, naming the template\'s reference', async () => {
  const tmpl = join(dep.root, 'denied.tmpl');
  writeFileSync(tmpl, 'token={{ other/prod/TOKEN }}\n');
  // files would go under this private tmpfs parent: nothing may be left there
  const parent = mkdtempSync('/dev/shm/ward-test-');
  try {
    const r = runWard(['--template', `${tmpl}:denied.conf`], { XDG_RUNTIME_DIR: parent });
    assert.equal((await r.exit).code, 4, r.stderr());
    assert.deepEqual(readdirSync(parent), [], 'no secret file left behind');
    assert.match(r.stderr(), /template refers to other\/prod\/TOKEN/);
    assert.ok(!r.stderr().includes('other-token-value'));
    assert.deepEqual(r.lines(), []);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
