import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, findConfig, loadConfig, parseConfig, parseListen, renderConfig } from '../src/config.ts';
import { WardError } from '../src/errors.ts';

const configError = (pattern: RegExp) => (e: unknown) => e instanceof WardError && e.code === 'ERR_CONFIG' && pattern.test(e.message);

test('the template ward init writes parses to the defaults, paths resolved against its directory', () => {
  const c = parseConfig(renderConfig({ trustDomain: 'prod.example.com' }), '/srv/ward/ward.toml');
  assert.deepEqual(c, {
    path: '/srv/ward/ward.toml',
    dir: '/srv/ward',
    server: {
      listen: { host: '127.0.0.1', port: 8443 },
      healthListen: { host: '127.0.0.1', port: 8080 },
      enrollListen: undefined,
      enrollRate: 10,
      trustDomain: 'prod.example.com',
      allowSources: [],
      denySources: [],
      importDir: undefined,
      tls: { cert: '/srv/ward/server/server.crt', key: '/srv/ward/server/server.key', clientCa: '/srv/ward/ca/ca.crt' },
    },
    ca: { cert: '/srv/ward/ca/ca.crt', key: '/srv/ward/ca/ca.key' },
    storage: { driver: 'sqlite', path: '/srv/ward/data/ward.db' },
    keys: { provider: 'file', path: '/srv/ward/master.key', previous: [] },
    pki: { workloadTtlMs: 24 * 3_600_000 },
    client: { servers: ['https://localhost:8443'], identity: '/srv/ward/admin' },
  });
});

test('an empty file means the defaults', () => {
  const c = parseConfig('', '/d/ward.toml');
  assert.equal(c.server.trustDomain, DEFAULTS.trustDomain);
  assert.equal(c.storage.driver, 'sqlite');
  assert.deepEqual(c.client.servers, ['https://localhost:8443']);
});

test('every setting', () => {
  const c = parseConfig(`
[server]
listen = "[::]:9443"
health_listen = ""
enroll_listen = "0.0.0.0:8444"
enroll_rate = 120
trust_domain = "td"
allow_sources = ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]
deny_sources = "10.1.0.0/16"
[server.tls]
cert = "/abs/s.crt"
key = "k/s.key"
client_ca = "c.crt"
[ca]
cert = "c.crt"
key = ""
[storage]
driver = "postgres"
url = "postgres://ward@db/ward"
[keys]
provider = "file"
path = "../keys/master.key"
[pki]
workload_ttl = "1h30m"
[client]
server = ["https://a.example:8443/", "https://b.example"]
identity = "/etc/ward/id"
`, 'cfg/ward.toml');
  const dir = join(process.cwd(), 'cfg');
  assert.deepEqual(c.server.listen, { host: '::', port: 9443 });
  assert.equal(c.server.healthListen, undefined);
  assert.deepEqual(c.server.enrollListen, { host: '0.0.0.0', port: 8444 });
  assert.equal(c.server.enrollRate, 120);
  assert.equal(c.pki.workloadTtlMs, 90 * 60_000);
  assert.equal(c.server.trustDomain, 'td');
  assert.deepEqual(c.server.allowSources, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
  assert.deepEqual(c.server.denySources, ['10.1.0.0/16']);
  assert.deepEqual(c.server.tls, { cert: '/abs/s.crt', key: join(dir, 'k/s.key'), clientCa: join(dir, 'c.crt') });
  assert.deepEqual(c.ca, { cert: join(dir, 'c.crt'), key: undefined });
  assert.deepEqual(c.storage, { driver: 'postgres', url: 'postgres://ward@db/ward' });
  assert.equal(c.keys.path, join(process.cwd(), 'keys/master.key'));
  assert.deepEqual(c.client, { servers: ['https://a.example:8443', 'https://b.example'], identity: '/etc/ward/id' });
});

const refused: [string, RegExp][] = [
  ['[server\n', /ward\.toml:1:\d+: /],
  ['nonsense = 1', /nonsense: unknown key/],
  ['[pki]\nworkload_ttl = "30s"', /pki\.workload_ttl: invalid lifetime/],
  ['[pki]\nworkload_ttl = "forever"', /pki\.workload_ttl: invalid lifetime/],
  ['[server]\nenroll_listen = "8444"', /server\.enroll_listen: invalid address/],
  ['[server]\nenroll_rate = 0', /server\.enroll_rate: must be an integer/],
  ['[server]\nenroll_rate = "fast"', /server\.enroll_rate: must be an integer/],
  ['[server]\nlisten = 8443', /server\.listen: must be a string/],
  ['[server]\nlisten = "8443"', /server\.listen: invalid address/],
  ['[server]\nlisten = "localhost:99999"', /server\.listen: invalid address/],
  ['[server]\nlisten = "::1:8443"', /server\.listen: invalid address/],
  ['[server]\nlisten = "[nothost]:8443"', /server\.listen: invalid address/],
  ['[server]\nhealth_listen = "x"', /server\.health_listen: invalid address/],
  ['[server]\ntrust_domain = "Ward.Local"', /server\.trust_domain: invalid trust domain/],
  ['[server]\nallow_sources = ["10.0.0.0/33"]', /server\.allow_sources: invalid/],
  ['[server]\ndeny_sources = ["example.com"]', /server\.deny_sources: invalid/],
  ['[server]\nallow_sources = [1]', /server\.allow_sources: must be a string or a list/],
  ['[server]\nlisten_addr = "x"', /server\.listen_addr: unknown key/],
  ['[server.tls]\ncrt = "x"', /server\.tls\.crt: unknown key/],
  ['server = "x"', /server: must be a table/],
  ['[storage]\ndriver = "mysql"', /storage\.driver: unknown driver/],
  ['[storage]\ndriver = "postgres"', /storage\.url: must be a postgres/],
  ['[storage]\ndriver = "postgres"\nurl = "postgres://x"\npath = "a"', /storage\.path: applies only/],
  ['[storage]\nurl = "postgres://x"', /storage\.url: applies only/],
  ['[keys]\nprovider = "hsm"', /keys\.provider: unknown provider/],
  ['[client]\nserver = "http://localhost:8443"', /client\.server: .* must be https/],
  ['[client]\nserver = "https://u:p@localhost"', /client\.server: .* must be https/],
  ['[client]\nserver = "https://localhost/v1"', /client\.server: .* must be https/],
  ['[client]\nserver = "not a url"', /client\.server: invalid URL/],
  ['[client]\nserver = []', /client\.server: needs at least one/],
  ['[audit]\npath = "a"', /audit: unknown key/],
];

for (const [text, pattern] of refused) {
  test(`refuses ${JSON.stringify(text)}`, () => {
    assert.throws(() => parseConfig(text, '/d/ward.toml'), configError(pattern));
  });
}

test('parseListen', () => {
  assert.deepEqual(parseListen('0.0.0.0:0', 'k'), { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseListen('[::1]:8443', 'k'), { host: '::1', port: 8443 });
  assert.deepEqual(parseListen('ward.example.com:443', 'k'), { host: 'ward.example.com', port: 443 });
  assert.throws(() => parseListen(':8443', '--listen'), configError(/--listen: invalid address/));
});

test('loadConfig reads a file or a directory; missing and oversized files are config errors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ward.toml'), renderConfig({ trustDomain: 'ward.local' }));
  assert.equal(loadConfig(join(dir, 'ward.toml')).dir, dir);
  assert.equal(loadConfig(dir).path, join(dir, 'ward.toml'));
  assert.throws(() => loadConfig(join(dir, 'none.toml')), (e: unknown) => e instanceof WardError && e.code === 'ERR_CONFIG' && e.hint !== undefined);
  writeFileSync(join(dir, 'big.toml'), `# ${'x'.repeat(1024 * 1024)}\n`);
  assert.throws(() => loadConfig(join(dir, 'big.toml')), configError(/larger than/));
});

test('findConfig: $WARD_CONFIG, else the nearest ward.toml upwards', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-find-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'dep', 'data', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'dep', 'ward.toml'), '');
  assert.equal(findConfig(join(dir, 'dep'), {}), join(dir, 'dep', 'ward.toml'));
  assert.equal(findConfig(join(dir, 'dep', 'data', 'deep'), {}), join(dir, 'dep', 'ward.toml'));
  assert.equal(findConfig(join(dir, 'dep'), { WARD_CONFIG: '/elsewhere/w.toml' }), '/elsewhere/w.toml');
  assert.equal(findConfig(dir, {}) === join(dir, 'dep', 'ward.toml'), false);
});
