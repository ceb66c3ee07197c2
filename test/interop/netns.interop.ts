/**
 * `ward run` across a real network: a server host and a device host as two Linux network
 * namespaces joined by a veth pair (iproute2's `ip`; needs root, as the interop suite runs in CI).
 *
 *   ns SRV  veth S 198.51.100.1/24  <──────>  veth D 198.51.100.x/24  ns DEV     (TEST-NET-2)
 *
 * The server's allow list is 127.0.0.0/8 (the operator, inside SRV) and 198.51.100.64/26:
 * - the device at 198.51.100.2, outside the list, is refused (exit 4) and the app never starts;
 * - at 198.51.100.70 with its link down, `ward run --wait 0` keeps retrying; once the link comes
 *   up the app starts.
 * Namespaces (and with them the veth pair) are removed whatever happens.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanEnv, initDeployment, startWardServer, type Deployment, type RunningServer } from '../client/deployment.ts';

const tag = `${process.pid % 100000}`;
const SRV = `ward-srv-${tag}`;
const DEV = `ward-dev-${tag}`;
const VS = `wvs${tag}`;
const VD = `wvd${tag}`;
const SERVER_IP = '198.51.100.1';
const PORT = 8443;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const inDev = (...args: string[]) => ip('-n', DEV, ...args);

let dep: Deployment | undefined;
let server: RunningServer | undefined;
let identity: string;

function cleanup(): void {
  for (const ns of [SRV, DEV]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not created
    }
  }
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'network namespaces need root: run the interop suite as root (CI does)');
  cleanup();
  ip('netns', 'add', SRV);
  ip('netns', 'add', DEV);
  ip('link', 'add', VS, 'type', 'veth', 'peer', 'name', VD);
  ip('link', 'set', VS, 'netns', SRV);
  ip('link', 'set', VD, 'netns', DEV);
  ip('-n', SRV, 'addr', 'add', `${SERVER_IP}/24`, 'dev', VS);
  ip('-n', SRV, 'link', 'set', VS, 'up');
  ip('-n', SRV, 'link', 'set', 'lo', 'up');
  inDev('link', 'set', 'lo', 'up');

  dep = initDeployment([SERVER_IP]);
  const toml = join(dep.dir, 'ward.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace(/^allow_sources = \[\]$/m, 'allow_sources = ["127.0.0.0/8", "198.51.100.64/26"]'));
  server = await startWardServer(dep, PORT, '0.0.0.0', ['ip', 'netns', 'exec', SRV]);
  // the operator works inside the server host, over its loopback
  const opEnv = cleanEnv({ WARD_SERVER: `https://127.0.0.1:${PORT}` });
  const op = (args: string[], input?: string) => {
    const r = execFileSync('ip', ['netns', 'exec', SRV, process.execPath, BIN, ...args], { cwd: dep!.dir, env: opEnv, input, stdio: ['pipe', 'pipe', 'pipe'] });
    return r.toString();
  };
  identity = join(dep.root, 'device-1');
  op(['cert', 'issue', 'device-1', '--app', 'meter', '--env', 'field', '--out', identity]);
  op(['secret', 'set', 'meter/field/UPLINK_KEY'], 'uplink-key-value');
});

after(async () => {
  await server?.stop();
  cleanup();
  dep?.remove();
});

function wardRunOnDevice(wait: string) {
  const child = spawn('ip', ['netns', 'exec', DEV, process.execPath, BIN, 'run', '--wait', wait, '--', process.execPath, '-e', 'console.log("app started, key " + (process.env.UPLINK_KEY ? "present" : "missing"))'], {
    env: cleanEnv({ WARD_SERVER: `https://${SERVER_IP}:${PORT}`, WARD_IDENTITY: identity }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = once(child, 'close').then(([code]) => code as number | null);
  return { child, exit, out: () => out, err: () => err };
}

function setDeviceAddress(addr: string): void {
  inDev('addr', 'flush', 'dev', VD);
  inDev('addr', 'add', `${addr}/24`, 'dev', VD);
}

test('a device outside the server\'s allow list is refused: exit 4, the app never starts', async () => {
  setDeviceAddress('198.51.100.2');
  inDev('link', 'set', VD, 'up');
  const r = wardRunOnDevice('20s');
  const code = await r.exit;
  assert.equal(code, 4, r.err());
  assert.equal(r.out(), '');
  assert.match(r.err(), /meter\/field/);
  assert.ok(!r.err().includes('uplink-key-value'));
});

test('with the device\'s link down ward run keeps waiting; once the link is up the app starts', async () => {
  setDeviceAddress('198.51.100.70');
  inDev('link', 'set', VD, 'down');
  const r = wardRunOnDevice('0');
  try {
    await new Promise((res) => setTimeout(res, 4000));
    assert.equal(r.child.exitCode, null, `ward run gave up: ${r.err()}`);
    assert.equal(r.out(), '');
    assert.match(r.err(), /attempt \d+: cannot reach https:\/\/198\.51\.100\.1:8443/);
    inDev('link', 'set', VD, 'up');
    const code = await Promise.race([r.exit, new Promise<string>((res) => setTimeout(() => res('timeout'), 20_000))]);
    assert.equal(code, 0, r.err());
    assert.match(r.out(), /app started, key present/);
  } finally {
    if (r.child.exitCode === null) r.child.kill('SIGKILL');
  }
});
