/**
 * Remote unlock of folders, end to end with a real deployment and `ward server`:
 * `ward dir encrypt|decrypt --key APP/ENV/NAME` (the folder key held as a Ward secret) and
 * `ward run --unlock ENCRYPTED:PLAIN[:NAME]` decrypting into memory before the app starts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, cleanEnv, freePort, initDeployment, startWardServer, ward, type Deployment, type RunningServer } from '../client/deployment.ts';

const TMPFS_MAGIC = 0x01021994;
// The app: prints the files of the folder given as its argument, and whether DIR_KEY reached it.
const APP = `
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
const files = {};
const walk = (d, p) => { for (const n of readdirSync(d)) { const f = join(d, n); if (statSync(f).isDirectory()) walk(f, p + n + '/'); else files[p + n] = readFileSync(f, 'utf8'); } };
walk(process.argv[2], '');
console.log(JSON.stringify({ files, dirKey: process.env.DIR_KEY ?? null, filesDir: process.env.WARD_FILES ?? null }));
`;

let dep: Deployment;
let server: RunningServer;
let web: string;
let intruder: string;
let shm: string;
const PLAIN = { 'a.txt': 'alpha secret', 'sub/b.txt': 'beta secret' };

before(async () => {
  dep = initDeployment();
  server = await startWardServer(dep, await freePort());
  const ops = admin(dep, server.url);
  web = ops.issue('web-1', 'shop', 'prod', join(dep.root, 'web-1'));
  intruder = ops.issue('intruder', 'other', 'prod', join(dep.root, 'intruder'));
  ops.set('shop/prod/DB_PASSWORD', 'pw');
  mkdirSync(join(dep.root, 'plain', 'sub'), { recursive: true });
  for (const [n, t] of Object.entries(PLAIN)) writeFileSync(join(dep.root, 'plain', n), t);
  writeFileSync(join(dep.root, 'app.mjs'), APP);
  shm = mkdtempSync('/dev/shm/ward-unlock-test-');
});

after(async () => {
  await server?.stop();
  dep?.remove();
  if (shm) rmSync(shm, { recursive: true, force: true });
});

const asAdmin = (args: string[]) => ward(args, { cwd: dep.dir, env: cleanEnv({ WARD_SERVER: server.url }) });

function runApp(identity: string, unlock: string[], extra: string[] = [], env: Record<string, string> = {}) {
  const target = unlock[0]!.split(':')[1]!;
  return ward(['run', '--wait', '2s', ...unlock.flatMap((u) => ['--unlock', u]), ...extra, '--', process.execPath, join(dep.root, 'app.mjs'), target], {
    cwd: dep.root, env: cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: identity, ...env }),
  });
}

const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

test('ward dir encrypt --key creates the folder key through the server, then reuses it; decrypt --key reads it', () => {
  let r = asAdmin(['dir', 'encrypt', '--key', 'shop/prod/DIR_KEY', join(dep.root, 'plain'), join(dep.root, 'enc')]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!tree(join(dep.root, 'enc')).some((n) => n.includes('a.txt') || n.includes('sub')), 'names encrypted');
  const key = JSON.parse(asAdmin(['secret', 'get', 'shop/prod/DIR_KEY']).stdout) as Record<string, unknown>;
  assert.equal(key.version, 1);
  assert.equal(Buffer.from(key.password as string, 'base64url').length, 32);
  assert.equal(Buffer.from(key.salt as string, 'base64url').length, 16);
  // a second encrypt uses the same key (the existing secret is not replaced)
  r = asAdmin(['dir', 'encrypt', '--key', 'shop/prod/DIR_KEY', join(dep.root, 'plain'), join(dep.root, 'enc2')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(tree(join(dep.root, 'enc2')), tree(join(dep.root, 'enc')), 'same names: same key');
  r = asAdmin(['dir', 'decrypt', '--key', 'shop/prod/DIR_KEY', join(dep.root, 'enc2'), join(dep.root, 'dec')]);
  assert.equal(r.status, 0, r.stderr);
  for (const [n, t] of Object.entries(PLAIN)) assert.equal(readFileSync(join(dep.root, 'dec', n), 'utf8'), t);
  // decrypt never creates a key; a workload of another app may not read this one
  r = asAdmin(['dir', 'decrypt', '--key', 'shop/prod/NO_SUCH_KEY', join(dep.root, 'enc'), join(dep.root, 'dec2')]);
  assert.equal(r.status, 6, r.stderr);
  assert.ok(!existsSync(join(dep.root, 'dec2')));
  r = ward(['dir', 'decrypt', '--key', 'shop/prod/DIR_KEY', join(dep.root, 'enc'), join(dep.root, 'dec3')], { cwd: dep.root, env: cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: intruder }) });
  assert.equal(r.status, 4, r.stderr);
  assert.ok(!existsSync(join(dep.root, 'dec3')));
  r = asAdmin(['dir', 'encrypt', '--key', 'shop/prod/DIR_KEY', '--password-file', '/dev/null', join(dep.root, 'plain'), join(dep.root, 'enc3')]);
  assert.equal(r.status, 2, r.stderr);
});

test('ward run --unlock: the app sees the plaintext folder in memory; the folder key is not handed to it', () => {
  const target = join(shm, 'plain-ok');
  const r = runApp(web, [`${join(dep.root, 'enc')}:${target}`]);
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { files: Record<string, string>; dirKey: string | null };
  assert.deepEqual(seen.files, PLAIN);
  assert.equal(seen.dirKey, null, 'DIR_KEY is not a variable of the app');
  assert.equal(statfsSync(target).type, TMPFS_MAGIC);
  assert.equal(r.stderr, '', 'no progress when stderr is not a terminal');
});

test('ward run --unlock without access: the app does not start and nothing is written', async () => {
  const enc = join(dep.root, 'enc');
  // a policy denies this instance the folder key (it still reads the rest of shop/prod)
  const policy = join(dep.root, 'kiosk.json');
  writeFileSync(policy, JSON.stringify({ name: 'kiosk', rules: [{ name: 'no-dir-key', effect: 'deny', identities: ['spiffe://ward.local/app/shop/env/prod/kiosk'], operations: ['read'], paths: ['shop/prod/DIR_KEY'] }] }));
  admin(dep, server.url).policy(policy);
  const kiosk = admin(dep, server.url).issue('kiosk', 'shop', 'prod', join(dep.root, 'kiosk'));
  let target = join(shm, 'plain-denied');
  let r = runApp(kiosk, [`${enc}:${target}`]);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /folder key shop\/prod\/DIR_KEY is not readable.*ERR_API_DENIED/);
  assert.equal(r.stdout, '', 'the app never started');
  assert.ok(!existsSync(target));
  // a workload whose own APP/ENV has no folder key
  r = runApp(intruder, [`${enc}:${target}`]);
  assert.equal(r.status, 6, r.stderr);
  assert.match(r.stderr, /folder key other\/prod\/DIR_KEY does not exist/);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(target));
  // an existing empty target stays empty; a wrong key (another secret's value) fails decryption
  admin(dep, server.url).set('shop/prod/OTHER_KEY', '{"version":1,"password":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","salt":"AAAAAAAAAAAAAAAAAAAAAA"}');
  target = join(shm, 'plain-empty');
  mkdirSync(target);
  r = runApp(web, [`${enc}:${target}:OTHER_KEY`]);
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stdout, '');
  assert.deepEqual(readdirSync(target), []);
  // a revoked certificate
  const revoked = admin(dep, server.url).issue('web-2', 'shop', 'prod', join(dep.root, 'web-2'));
  assert.equal(asAdmin(['cert', 'revoke', 'web-2']).status, 0);
  target = join(shm, 'plain-revoked');
  r = runApp(revoked, [`${enc}:${target}`]);
  assert.equal(r.status, 4, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(target));
  // no server at all
  target = join(shm, 'plain-noserver');
  r = runApp(web, [`${enc}:${target}`], ['--wait', '1s'], { WARD_SERVER: `https://127.0.0.1:${await freePort()}` });
  assert.equal(r.status, 5, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(target));
});

test('ward run --unlock: a disk-backed or non-empty target is refused before any network', (t) => {
  const enc = join(dep.root, 'enc');
  const parent = statfsSync(dep.root).type === TMPFS_MAGIC ? mkdtempSync(join(process.cwd(), '.ward-disk-')) : dep.root;
  t.after(() => parent !== dep.root && rmSync(parent, { recursive: true, force: true }));
  const disk = join(parent, 'plain-on-disk');
  let r = runApp(web, [`${enc}:${disk}`], [], { WARD_SERVER: 'https://127.0.0.1:1' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /not memory-backed.*ERR_RUN_DISK/);
  assert.ok(!existsSync(disk));
  r = runApp(web, [`${enc}:${disk}`], ['--allow-disk']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { files: unknown }).files, PLAIN);
  const full = join(shm, 'full');
  mkdirSync(full);
  writeFileSync(join(full, 'x'), 'x');
  r = runApp(web, [`${enc}:${full}`]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /absent or an empty directory/);
  r = runApp(web, [`${enc}:${join(shm, 'p')}:bad/name`]);
  assert.equal(r.status, 2, r.stderr);
});

test('--unlock specs and folder-key values: parsed strictly; the key is rclone\'s password and password2 as text', async () => {
  const { parseUnlockSpec, folderKeys, newFolderKey, DEFAULT_UNLOCK_KEY } = await import('../../src/client/run/unlock.ts');
  const { deriveKeys } = await import('../../src/formats/rclone/index.ts');
  assert.deepEqual(parseUnlockSpec('/a:/b'), { src: '/a', dst: '/b', name: DEFAULT_UNLOCK_KEY });
  assert.deepEqual(parseUnlockSpec('/a:/b:CONFIG_KEY'), { src: '/a', dst: '/b', name: 'CONFIG_KEY' });
  for (const bad of ['/a', '/a:', ':/b', '/a:/b:', '/a:/b:x/y', '/a:/b:c:d']) assert.throws(() => parseUnlockSpec(bad), { code: 'ERR_USAGE' }, bad);
  const value = newFolderKey();
  const o = JSON.parse(value.toString()) as { password: string; salt: string };
  assert.deepEqual(await folderKeys(value, 'k'), await deriveKeys(Buffer.from(o.password), Buffer.from(o.salt)));
  const good = { version: 1, password: o.password, salt: o.salt };
  for (const bad of ['x', '[]', JSON.stringify({ ...good, version: 2 }), JSON.stringify({ ...good, extra: 1 }), JSON.stringify({ ...good, password: 'short' }),
    JSON.stringify({ ...good, salt: 'not base64url!!!!!!!!' }), JSON.stringify({ version: 1, password: o.password })]) {
    await assert.rejects(folderKeys(Buffer.from(bad), 'k'), { code: 'ERR_RUN_VALUE' }, bad);
  }
  await assert.rejects(folderKeys(Buffer.alloc(5000, 0x20), 'k'), { code: 'ERR_RUN_VALUE' });
});
