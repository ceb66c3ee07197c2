// `ward init` end to end: spawn the real CLI, then check the files, their modes, the certificates
// (chain, names, identity format) and a real TLS 1.3 mutual handshake between server and admin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import tls from 'node:tls';
import { loadConfig } from '../../src/config.ts';
import { ExitCode } from '../../src/errors.ts';
import { fingerprint, identityFromCertificate, loadCA, readIdentityDir } from '../../src/pki/index.ts';

const bin = new URL('../../bin/ward.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'ward-init-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

function ward(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const mode = (p: string) => statSync(p).mode & 0o777;
const dir = join(root, 'ward');
const first = ward(['init', dir]);

test('creates the deployment and prints the CA fingerprint and next steps', () => {
  assert.equal(first.code, 0, first.stderr);
  const ca = readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8');
  assert.equal(first.stdout, `${fingerprint(ca)}\n`);
  assert.match(first.stderr, /ward: created deployment/);
  assert.match(first.stderr, /ward server --config .*ward\.toml/);
  assert.match(first.stderr, /secret set/);
  assert.match(first.stderr, /cert issue/);
  assert.doesNotMatch(first.stderr, /BEGIN/);
});

test('layout and modes: DIR 0700, keys 0600, data 0700', () => {
  assert.deepEqual(readdirSync(dir).sort(), ['admin', 'ca', 'data', 'master.key', 'server', 'ward.toml']);
  assert.deepEqual(readdirSync(join(dir, 'ca')).sort(), ['ca.crt', 'ca.key']);
  assert.deepEqual(readdirSync(join(dir, 'server')).sort(), ['server.crt', 'server.key']);
  assert.deepEqual(readdirSync(join(dir, 'admin')).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
  assert.deepEqual(readdirSync(join(dir, 'data')), []);
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(join(dir, 'data')), 0o700);
  for (const secret of ['ca/ca.key', 'server/server.key', 'admin/key.pem', 'master.key']) assert.equal(mode(join(dir, secret)), 0o600, secret);
  assert.equal(statSync(join(dir, 'master.key')).size, 32);
  assert.equal(readdirSync(root).filter((n) => n.startsWith('.')).length, 0, 'no temporary directory left behind');
});

test('ward.toml parses, names the files written, and matches the CA', () => {
  const c = loadConfig(join(dir, 'ward.toml'));
  assert.equal(c.server.trustDomain, 'ward.local');
  for (const p of [c.server.tls.cert, c.server.tls.key, c.server.tls.clientCa, c.ca.cert, c.ca.key!, c.keys.path]) assert.ok(existsSync(p), p);
  assert.equal(c.storage.driver === 'sqlite' && c.storage.path, join(dir, 'data', 'ward.db'));
  assert.equal(c.client.identity, join(dir, 'admin'));
  assert.deepEqual(c.client.servers, ['https://localhost:8443']);
  const ca = loadCA(readFileSync(c.ca.cert, 'utf8'), readFileSync(c.ca.key!, 'utf8'));
  assert.equal(ca.trustDomain, c.server.trustDomain);
});

test('certificates chain to ca.crt (as openssl verify -CAfile would check); admin identity directory', () => {
  const ca = new X509Certificate(readFileSync(join(dir, 'ca', 'ca.crt')));
  const server = new X509Certificate(readFileSync(join(dir, 'server', 'server.crt')));
  for (const cert of [server, new X509Certificate(readFileSync(join(dir, 'admin', 'cert.pem')))]) {
    assert.equal(cert.checkIssued(ca), true);
    assert.equal(cert.verify(ca.publicKey), true);
    assert.ok(cert.validToDate.getTime() <= ca.validToDate.getTime());
  }
  assert.equal(server.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'server', 'server.key')))), true);
  assert.equal(server.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  const admin = readIdentityDir(join(dir, 'admin'));
  assert.equal(admin.caPem, readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8'));
  const id = identityFromCertificate(admin.certPem, { trustDomain: 'ward.local' });
  assert.equal(id.role, 'admin');
  assert.equal(id.spiffeId, 'spiffe://ward.local/admin/admin');
});

test('real TLS 1.3 mutual handshake: server certificate and admin identity, both verifying against ca.crt', async () => {
  const ca = readFileSync(join(dir, 'ca', 'ca.crt'));
  const admin = readIdentityDir(join(dir, 'admin'));
  const srv = tls.createServer({
    key: readFileSync(join(dir, 'server', 'server.key')), cert: readFileSync(join(dir, 'server', 'server.crt')), ca,
    requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3',
  });
  const served = new Promise<string>((resolve, reject) => {
    srv.on('secureConnection', (s) => {
      resolve(identityFromCertificate(s.getPeerCertificate()).spiffeId);
      s.end('hello');
    });
    srv.on('tlsClientError', reject);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    for (const host of ['localhost', '127.0.0.1']) {
      const sock = tls.connect({
        host: '127.0.0.1', port: (srv.address() as AddressInfo).port, ...(host === 'localhost' ? { servername: host } : {}),
        checkServerIdentity: (_h, cert) => tls.checkServerIdentity(host, cert),
        key: admin.keyPem, cert: admin.certPem, ca: admin.caPem, minVersion: 'TLSv1.3', rejectUnauthorized: true,
      });
      await once(sock, 'secureConnect');
      assert.equal(sock.authorized, true);
      assert.equal(sock.getProtocol(), 'TLSv1.3');
      const [data] = await once(sock, 'data');
      assert.equal(String(data), 'hello');
      sock.destroy();
    }
    assert.equal(await served, 'spiffe://ward.local/admin/admin');
  } finally {
    srv.close();
  }
});

test('refuses to overwrite an existing deployment, and leaves it untouched', () => {
  const before = readFileSync(join(dir, 'master.key'));
  const again = ward(['init', dir]);
  assert.equal(again.code, ExitCode.conflict);
  assert.match(again.stderr, /ERR_EXISTS/);
  assert.deepEqual(readFileSync(join(dir, 'master.key')), before);
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  assert.equal(ward(['init', file]).code, ExitCode.conflict);
  const nonEmpty = join(root, 'non-empty');
  mkdirSync(nonEmpty);
  writeFileSync(join(nonEmpty, 'keep'), 'x');
  assert.equal(ward(['init', nonEmpty]).code, ExitCode.conflict);
  assert.deepEqual(readdirSync(nonEmpty), ['keep']);
});

test('default DIR ./ward, --trust-domain, repeatable --san with DNS and IP detection; an empty DIR is used', () => {
  const cwd = join(root, 'cwd');
  mkdirSync(join(cwd, 'ward'), { recursive: true });
  const r = ward(['init', '--trust-domain', 'prod.example.com', '--san', 'ward.example.com', '--san', '10.0.0.5', '--san', '[fd00::1]'], cwd);
  assert.equal(r.code, 0, r.stderr);
  const server = new X509Certificate(readFileSync(join(cwd, 'ward', 'server', 'server.crt')));
  assert.equal(server.subjectAltName, 'DNS:localhost, DNS:ward.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.5, IP Address:FD00:0:0:0:0:0:0:1');
  assert.equal(loadConfig(join(cwd, 'ward')).server.trustDomain, 'prod.example.com');
  assert.equal(identityFromCertificate(readFileSync(join(cwd, 'ward', 'admin', 'cert.pem'))).spiffeId, 'spiffe://prod.example.com/admin/admin');
  assert.equal(mode(join(cwd, 'ward')), 0o700);
});

test('bad input fails before anything is written', () => {
  for (const [args, exit] of [
    [['--trust-domain', 'Not Valid'], ExitCode.usage],
    [['--san', 'bad_host!'], ExitCode.usage],
    [['--san', ''], ExitCode.usage],
  ] as const) {
    const target = join(root, `bad-${Math.random().toString(36).slice(2)}`);
    const r = ward(['init', target, ...args]);
    assert.equal(r.code, exit, r.stderr);
    assert.match(r.stderr, /^ward: error: /m);
    assert.equal(existsSync(target), false);
  }
  assert.equal(readdirSync(root).filter((n) => n.startsWith('.')).length, 0);
});

test('--help documents the command', () => {
  const r = ward(['init', '--help']);
  assert.equal(r.code, 0);
  for (const s of ['--trust-domain', '--san', 'ca/ca.crt', 'admin/', 'key.pem', 'master.key']) assert.ok(r.stdout.includes(s), s);
});
