/**
 * Interop of Ward's PKI with the real `openssl` CLI: `openssl verify` accepts what `ward init`
 * issues (with the right purpose) and enforces the CA's name constraints; CSRs made by
 * `openssl req` pass or fail `verifyCsr` as documented in docs/pki.md; `openssl s_client` with the
 * admin identity completes a TLS 1.3 mutual handshake with a server using the deployment's
 * server certificate.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { WardError } from '../../src/errors.ts';
import { identityFromCertificate, verifyCsr } from '../../src/pki/index.ts';
import { ok as spawnOk, run as spawnRun, WARD } from './spawn.ts';

const ID = 'spiffe://ward.local/app/web/env/prod/web-1';
let dir = '';
let dep = '';
const p = (...names: string[]): string => join(dep, ...names);
const run = (cmd: string, args: string[]) => spawnRun(cmd, args, dir);
const ok = (cmd: string, args: string[]) => spawnOk(cmd, args, dir);



before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ward-pki-interop-'));
  dep = join(dir, 'ward');
  await ok(process.execPath, [WARD, 'init', dep, '--san', 'ward.example.com', '--san', '10.1.2.3']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('openssl verify accepts the server certificate for sslserver and the admin certificate for sslclient', async () => {
  assert.match(await ok('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), '-purpose', 'sslserver', p('server', 'server.crt')]), /: OK/);
  assert.match(await ok('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), '-purpose', 'sslclient', p('admin', 'cert.pem')]), /: OK/);
  const wrong = await run('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), '-purpose', 'sslserver', p('admin', 'cert.pem')]);
  assert.notEqual(wrong.code, 0, 'an admin certificate is not a server certificate');
  assert.match(await ok('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), '-verify_hostname', 'ward.example.com', p('server', 'server.crt')]), /: OK/);
  assert.match(await ok('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), '-verify_ip', '10.1.2.3', p('server', 'server.crt')]), /: OK/);
});

test('openssl reads the CA profile: CA, pathlen 0, key usage, name constraints, trust domain', async () => {
  const text = await ok('openssl', ['x509', '-in', p('ca', 'ca.crt'), '-noout', '-text']);
  assert.match(text, /CA:TRUE, pathlen:0/);
  assert.match(text, /Certificate Sign, CRL Sign/);
  assert.match(text, /X509v3 Name Constraints: critical\s+Permitted:\s+URI:ward\.local/);
  assert.match(text, /URI:spiffe:\/\/ward\.local/);
  assert.match(text, /ASN1 OID: prime256v1/);
  const fp = (await ok('openssl', ['x509', '-in', p('ca', 'ca.crt'), '-noout', '-fingerprint', '-sha256'])).split('=')[1]!.trim();
  const printed = (await ok(process.execPath, [WARD, 'init', join(dir, 'second')])).trim();
  assert.match(printed, /^sha256:[0-9a-f]{64}$/);
  const second = (await ok('openssl', ['x509', '-in', join(dir, 'second', 'ca', 'ca.crt'), '-noout', '-fingerprint', '-sha256'])).split('=')[1]!.trim();
  assert.equal(printed, `sha256:${second.replaceAll(':', '').toLowerCase()}`);
  assert.notEqual(fp, second);
});

test('openssl enforces the name constraints on a certificate the CA key signs for another trust domain', async () => {
  const key = join(dir, 'rogue.key');
  await ok('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const ext = join(dir, 'rogue.ext');
  for (const [name, uri] of [['inside', 'spiffe://ward.local/app/a/env/b/c'], ['outside', 'spiffe://evil.example/app/a/env/b/c']] as const) {
    writeFileSync(ext, `basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:${uri}\n`);
    await ok('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', join(dir, `${name}.csr`)]);
    await ok('openssl', ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', p('ca', 'ca.crt'), '-CAkey', p('ca', 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', join(dir, `${name}.crt`)]);
  }
  assert.match(await ok('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), join(dir, 'inside.crt')]), /: OK/);
  const r = await run('openssl', ['verify', '-CAfile', p('ca', 'ca.crt'), join(dir, 'outside.crt')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /permitted subtree violation/);
});

test('CSRs from openssl req: P-256 with the right SPIFFE ID passes; RSA, extra SANs, other IDs fail', async () => {
  const ec = join(dir, 'ec.key');
  await ok('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ec]);
  const csr = async (key: string, ext?: string) => {
    const out = join(dir, `c-${Math.random().toString(36).slice(2)}.csr`);
    await ok('openssl', ['req', '-new', '-key', key, '-subj', '/CN=web-1', ...(ext ? ['-addext', ext] : []), '-out', out]);
    return readFileSync(out, 'utf8');
  };
  const refused = (e: unknown) => e instanceof WardError && e.code === 'ERR_PKI_INVALID_CSR';
  await verifyCsr(await csr(ec, `subjectAltName=URI:${ID}`), { spiffeId: ID });
  await verifyCsr(await csr(ec), { spiffeId: ID });
  await assert.rejects(verifyCsr(await csr(ec, `subjectAltName=URI:${ID},DNS:evil.example.com`), { spiffeId: ID }), refused);
  await assert.rejects(verifyCsr(await csr(ec, 'subjectAltName=URI:spiffe://ward.local/app/billing/env/prod/web-1'), { spiffeId: ID }), refused);
  await assert.rejects(verifyCsr(await csr(ec, 'basicConstraints=critical,CA:TRUE'), { spiffeId: ID }), refused);
  const rsa = join(dir, 'rsa.key');
  await ok('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsa]);
  await assert.rejects(verifyCsr(await csr(rsa, `subjectAltName=URI:${ID}`), { spiffeId: ID }), refused);
  const p384 = join(dir, 'p384.key');
  await ok('openssl', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', p384]);
  await assert.rejects(verifyCsr(await csr(p384, `subjectAltName=URI:${ID}`), { spiffeId: ID }), refused);
});

test('openssl s_client with the admin identity: TLS 1.3 mutual handshake with the deployment server certificate', async () => {
  const srv = tls.createServer({
    key: readFileSync(p('server', 'server.key')), cert: readFileSync(p('server', 'server.crt')), ca: readFileSync(p('ca', 'ca.crt')),
    requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3',
  });
  const seen = new Promise<string>((resolve) => {
    srv.on('secureConnection', (s) => {
      resolve(identityFromCertificate(s.getPeerCertificate()).spiffeId);
      s.end('hello from ward\n');
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const port = (srv.address() as AddressInfo).port;
    const r = await run('openssl', [
      's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-verify_hostname', 'localhost', '-verify_return_error',
      '-tls1_3', '-CAfile', p('ca', 'ca.crt'), '-cert', p('admin', 'cert.pem'), '-key', p('admin', 'key.pem'), '-ign_eof',
    ]);
    assert.match(r.stdout, /Verify return code: 0 \(ok\)/, r.stderr);
    assert.match(r.stdout, /TLSv1\.3/);
    assert.match(r.stdout, /hello from ward/);
    assert.equal(await seen, 'spiffe://ward.local/admin/admin');
  } finally {
    srv.close();
  }
});
