/**
 * Transport: every way of reaching the API without a valid, current Ward client certificate over
 * TLS 1.3 is refused — over real sockets.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { client, makePki, startTestServer, b64, type Client } from './helpers.ts';

const pki = await makePki();
const other = await makePki();
const server = await startTestServer(pki, { host: '::', revocationRefreshMs: 100 });
const admin = client(server, pki.admin);
after(async () => {
  admin.close();
  await server.close();
});

/** A request that must not get any HTTP answer (the handshake or the connection fails). */
async function refusedAtTransport(c: Client): Promise<void> {
  try {
    const answer = await c.call('GET', '/v1/whoami');
    assert.fail(`expected the connection to be refused, got HTTP ${answer.status}`);
  } catch (e) {
    assert.ok(e instanceof Error && !(e instanceof assert.AssertionError), String(e));
  } finally {
    c.close();
  }
}

test('a valid workload certificate is accepted over TLS 1.3 with the configured groups', async () => {
  const cred = await pki.workload('billing', 'prod');
  const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca.certPem, cert: cred.cert, key: cred.key, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  assert.equal(socket.getProtocol(), 'TLSv1.3');
  const group = (socket.getEphemeralKeyInfo() as { name?: string }).name;
  assert.ok(group === 'X25519MLKEM768' || group === 'X25519', `negotiated ${group}`);
  socket.destroy();
  const c = client(server, cred);
  const who = await c.call('GET', '/v1/whoami');
  assert.equal(who.status, 200);
  assert.deepEqual(who.body, { spiffeId: 'spiffe://ward.test/app/billing/env/prod/i1', role: 'workload', app: 'billing', env: 'prod', serial: cred.serial });
  c.close();
});

test('no client certificate: refused', async () => {
  await refusedAtTransport(client(server, null));
});

test('a certificate from another CA: refused', async () => {
  await refusedAtTransport(client(server, await other.workload('billing', 'prod')));
});

test('an expired certificate: refused at the handshake', async () => {
  const expired = await pki.workload('billing', 'prod', 'old', { now: new Date(Date.now() - 3 * 3_600_000), ttl: 3_600_000 });
  assert.ok(expired.notAfter.getTime() < Date.now());
  await refusedAtTransport(client(server, expired));
});

test('a TLS 1.2 client: refused', async () => {
  const cred = await pki.workload('billing', 'prod');
  const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: pki.ca.certPem, cert: cred.cert, key: cred.key, servername: 'localhost', maxVersion: 'TLSv1.2' });
  const err = await new Promise<Error | null>((resolve) => {
    socket.once('secureConnect', () => resolve(null));
    socket.once('error', resolve);
  });
  socket.destroy();
  assert.ok(err, 'TLS 1.2 handshake must fail');
  assert.match(String((err as NodeJS.ErrnoException).code ?? err.message), /VERSION|PROTOCOL|ALERT/i);
});

test('plain HTTP to the TLS port gets nothing useful', async () => {
  const socket = netConnect({ host: '127.0.0.1', port: server.port });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write('GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, 3000).unref();
  });
  const text = Buffer.concat(chunks).toString('latin1');
  assert.doesNotMatch(text, /HTTP\/1\.1|spiffe|\{/);
});

test('the server certificate is not a client identity', async () => {
  const c = client(server, pki.server);
  try {
    const answer = await c.call('GET', '/v1/whoami');
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error.code, 'ERR_API_UNAUTHENTICATED');
  } catch (e) {
    // OpenSSL may already refuse it at the handshake (no clientAuth usage): refused as well.
    assert.ok(e instanceof Error && !(e instanceof assert.AssertionError));
  } finally {
    c.close();
  }
});

test('a revoked certificate is refused at once, on open connections and new ones, without restart', async () => {
  const cred = await pki.workload('billing', 'prod', 'doomed');
  const w = client(server, cred);
  assert.equal((await w.call('GET', '/v1/whoami')).status, 200);
  const revoke = await admin.call('POST', `/v1/certs/${cred.serial}/revoke`);
  // The workload certificate was issued outside the API (by the test CA), so the store does not know it.
  assert.equal(revoke.status, 404);
  await server.store.recordCertificate({
    serial: cred.serial, name: 'doomed', spiffeId: cred.spiffeId!, app: 'billing', env: 'prod', role: 'workload',
    notBefore: cred.notBefore.getTime(), notAfter: cred.notAfter.getTime(), fingerprint: 'sha256:00', issuedAt: Date.now(), revokedAt: null,
  });
  const ok = await admin.call('POST', `/v1/certs/${cred.serial}/revoke`);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.revoked.serial, cred.serial);
  // same keep-alive connection: 401 and the connection is closed
  const again = await w.call('GET', '/v1/whoami');
  assert.equal(again.status, 401);
  assert.equal(again.body.error.code, 'ERR_API_UNAUTHENTICATED');
  assert.equal(again.headers.connection, 'close');
  w.close();
  // a new connection is dropped right after the handshake
  await refusedAtTransport(client(server, cred));
  // and the refusal was audited
  const audit = await admin.call('GET', '/v1/audit?limit=1000');
  assert.ok(audit.body.records.some((r: { serial: string; outcome: string }) => r.serial === cred.serial && r.outcome === 'unauthenticated'));
});

test('IPv6 and IPv4 clients reach the same server; sources are normalised', async () => {
  const cred = await pki.workload('billing', 'prod');
  const v6 = client(server, cred, '::1');
  const who = await v6.call('GET', '/v1/whoami');
  assert.equal(who.status, 200);
  v6.close();
  const v4 = client(server, cred, '127.0.0.1');
  assert.equal((await v4.call('PUT', '/v1/secrets/billing/prod/X', { value: b64('x') })).status, 403);
  v4.close();
  const audit = await admin.call('GET', '/v1/audit?limit=1000');
  const sources = new Set(audit.body.records.map((r: { source: string }) => r.source));
  assert.ok(sources.has('::1'), 'IPv6 source recorded as ::1');
  assert.ok(sources.has('127.0.0.1'), 'IPv4-mapped source recorded as plain IPv4');
  assert.ok(![...sources].some((s) => String(s).startsWith('::ffff:')));
});

test('a revocation made by another replica (straight in the shared store) is picked up within the refresh interval', async () => {
  const cred = await pki.workload('billing', 'prod', 'elsewhere');
  const w = client(server, cred);
  assert.equal((await w.call('GET', '/v1/whoami')).status, 200);
  await server.store.recordCertificate({
    serial: cred.serial, name: 'elsewhere', spiffeId: cred.spiffeId!, app: 'billing', env: 'prod', role: 'workload',
    notBefore: cred.notBefore.getTime(), notAfter: cred.notAfter.getTime(), fingerprint: 'sha256:00', issuedAt: Date.now(), revokedAt: null,
  });
  assert.ok(await server.store.revokeCertificate(cred.serial, Date.now()));
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await w.call('GET', '/v1/whoami')).status, 401);
  w.close();
});
