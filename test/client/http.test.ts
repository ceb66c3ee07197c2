import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { WardError } from '../../src/errors.ts';
import { errorFromResponse, parseServerUrl, WardHttpClient } from '../../src/client/http.ts';
import { loadIdentity } from '../../src/client/identity.ts';
import { deadPort, makeIdentityDir, makePki, sendJson, startServer, tempDir, type Pki } from './fixtures.ts';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<WardError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof WardError, `expected WardError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

let pkiPromise: Promise<Pki> | undefined;
const pki = () => (pkiPromise ??= makePki());

async function clientFor(t: Parameters<typeof tempDir>[0], servers: string[], options: { timeoutMs?: number; maxResponseBytes?: number } = {}) {
  const p = await pki();
  const dir = await makeIdentityDir(p.ca, tempDir(t));
  const client = new WardHttpClient({ servers, identity: loadIdentity(dir), ...options });
  t.after(() => client.close());
  return client;
}

test('parseServerUrl: https only, default scheme, SNI only for host names', () => {
  assert.deepEqual(parseServerUrl('ward.example:8443'), { url: 'https://ward.example:8443', host: 'ward.example', port: 8443, basePath: '', servername: 'ward.example' });
  assert.equal(parseServerUrl('https://127.0.0.1:9/').servername, '');
  const v6 = parseServerUrl('https://[::1]:8443/ward/');
  assert.equal(v6.host, '::1');
  assert.equal(v6.servername, '');
  assert.equal(v6.basePath, '/ward');
  assert.equal(parseServerUrl('https://h').port, 443);
  for (const bad of ['http://h:1', 'https://u:p@h', 'https://h/?x=1', 'ftp://h']) {
    assert.throws(() => parseServerUrl(bad), (e: unknown) => e instanceof WardError && e.code === 'ERR_USAGE', bad);
  }
});

test('errorFromResponse keeps the server code, maps unknown codes by status', () => {
  const body = (code: string) => Buffer.from(JSON.stringify({ error: { code, message: 'm' } }));
  assert.equal(errorFromResponse(403, body('ERR_API_DENIED'), 's').code, 'ERR_API_DENIED');
  assert.equal(errorFromResponse(409, body('ERR_SOMETHING_NEW'), 's').code, 'ERR_API_CONFLICT');
  assert.match(errorFromResponse(409, body('ERR_SOMETHING_NEW'), 's').message, /ERR_SOMETHING_NEW/);
  assert.equal(errorFromResponse(500, Buffer.from('<html>'), 's').code, 'ERR_INTERNAL');
  assert.equal(errorFromResponse(502, Buffer.from(''), 's').code, 'ERR_API_UNAVAILABLE');
  assert.equal(errorFromResponse(404, body('toString'), 's').code, 'ERR_API_NOT_FOUND');
});

test('mTLS round trip: client certificate presented, JSON both ways, keep-alive reuses one connection', async (t) => {
  const p = await pki();
  const srv = await startServer(p, (req, res, body) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    assert.equal((req.socket as TLSSocket).getProtocol(), 'TLSv1.3');
    sendJson(res, 200, { method: req.method, url: req.url, san: peer.subjectaltname, body: body.length ? JSON.parse(body.toString()) : null });
  });
  t.after(() => srv.close());
  const client = await clientFor(t, [srv.url]);
  const r1 = await client.request<{ method: string; url: string; san: string; body: unknown }>('PUT', '/v1/x', { body: { a: 1 }, query: { v: 2, skip: undefined } });
  assert.equal(r1.method, 'PUT');
  assert.equal(r1.url, '/v1/x?v=2');
  assert.equal(r1.san, 'URI:spiffe://test.local/admin/admin');
  assert.deepEqual(r1.body, { a: 1 });
  await client.request('GET', '/v1/y');
  await client.request('GET', '/v1/z');
  assert.equal(srv.connections, 1);
});

test('error answers become WardErrors with the server code', async (t) => {
  const p = await pki();
  const srv = await startServer(p, (req, res) => {
    if (req.url === '/denied') sendJson(res, 403, { error: { code: 'ERR_API_DENIED', message: 'access denied' } });
    else if (req.url === '/html') res.writeHead(500).end('<h1>oops</h1>');
    else res.writeHead(200).end('not json');
  });
  t.after(() => srv.close());
  const client = await clientFor(t, [srv.url]);
  const denied = await rejectsWith(client.request('GET', '/denied'), 'ERR_API_DENIED');
  assert.equal(denied.message, 'access denied');
  assert.equal(denied.exitCode, 4);
  await rejectsWith(client.request('GET', '/html'), 'ERR_INTERNAL');
  await rejectsWith(client.request('GET', '/text'), 'ERR_API_BAD_RESPONSE');
});

test('connection refused is ERR_API_UNAVAILABLE (exit 5)', async (t) => {
  const client = await clientFor(t, [`https://127.0.0.1:${await deadPort()}`]);
  const e = await rejectsWith(client.request('GET', '/v1/whoami'), 'ERR_API_UNAVAILABLE');
  assert.equal(e.exitCode, 5);
  assert.match(e.message, /ECONNREFUSED/);
});

test('failover: an unreachable or 503 server is skipped, and the live one is preferred afterwards', async (t) => {
  const p = await pki();
  const sealed = await startServer(p, (_req, res) => sendJson(res, 503, { error: { code: 'ERR_KEY_SEALED', message: 'sealed' } }));
  const live = await startServer(p, (_req, res) => sendJson(res, 200, { ok: true }));
  t.after(() => sealed.close());
  t.after(() => live.close());
  const client = await clientFor(t, [`https://127.0.0.1:${await deadPort()}`, sealed.url, live.url]);
  assert.deepEqual(await client.request('GET', '/a'), { ok: true });
  assert.equal(sealed.requests, 1);
  assert.deepEqual(await client.request('GET', '/b'), { ok: true });
  assert.equal(sealed.requests, 1, 'the server that answered is tried first');
  assert.equal(live.requests, 2);
});

test('all servers failing reports the most specific failure and names every server', async (t) => {
  const p = await pki();
  const sealed = await startServer(p, (_req, res) => sendJson(res, 503, { error: { code: 'ERR_KEY_SEALED', message: 'sealed' } }));
  t.after(() => sealed.close());
  const dead = `https://127.0.0.1:${await deadPort()}`;
  const client = await clientFor(t, [sealed.url, dead]);
  const e = await rejectsWith(client.request('GET', '/a'), 'ERR_KEY_SEALED');
  assert.match(e.message, new RegExp(`tried ${sealed.url}, ${dead}`));
});

test('a write whose connection broke after sending is not replayed on the next server', async (t) => {
  const p = await pki();
  const breaking = await startServer(p, (req, res) => (req.method === 'GET' ? sendJson(res, 200, { version: 0 }) : req.socket.destroy()));
  const live = await startServer(p, (_req, res) => sendJson(res, 200, { version: 1 }));
  t.after(() => breaking.close());
  t.after(() => live.close());
  const client = await clientFor(t, [breaking.url, live.url]);
  assert.deepEqual(await client.request('GET', '/warm'), { version: 0 });
  await rejectsWith(client.request('POST', '/v1/secrets/a/b/c/rollback', { body: { version: 1 } }), 'ERR_API_UNAVAILABLE');
  assert.equal(live.requests, 0);
  breaking.server.close();
  breaking.server.closeAllConnections();
  assert.deepEqual(await client.request('GET', '/read'), { version: 1 }, 'a read moves on');
});

test('a server certificate from another CA is ERR_TLS_SERVER_UNTRUSTED, never accepted', async (t) => {
  const other = await makePki('other.local');
  const p = await pki();
  // the server trusts our client CA but presents a certificate from another CA
  const srv = await startServer({ ...other, ca: p.ca }, (_req, res) => sendJson(res, 200, {}));
  t.after(() => srv.close());
  const client = await clientFor(t, [srv.url]);
  const e = await rejectsWith(client.request('GET', '/'), 'ERR_TLS_SERVER_UNTRUSTED');
  assert.equal(srv.requests, 0);
  assert.ok(e.hint);
});

test('a server certificate that does not name the host is refused', async (t) => {
  const p = await pki();
  const named = await makePki('test.local', { dnsNames: ['ward.example'] });
  const srv = await startServer({ ...named, ca: p.ca }, (_req, res) => sendJson(res, 200, {}));
  t.after(() => srv.close());
  // same CA for both sides, so only the name is wrong
  const sameCa = { ...named, ca: named.ca };
  const srv2 = await startServer(sameCa, (_req, res) => sendJson(res, 200, {}));
  t.after(() => srv2.close());
  const dir = await makeIdentityDir(named.ca, tempDir(t));
  const client = new WardHttpClient({ servers: [srv2.url], identity: loadIdentity(dir) });
  t.after(() => client.close());
  const e = await rejectsWith(client.request('GET', '/'), 'ERR_TLS_SERVER_UNTRUSTED');
  assert.match(e.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
});

test('a client certificate the server does not trust is ERR_TLS_CLIENT_REJECTED (exit 4)', async (t) => {
  const p = await pki();
  const stranger = await makePki('stranger.local');
  const srv = await startServer(p, (_req, res) => sendJson(res, 200, {}));
  t.after(() => srv.close());
  // a client whose own certificate comes from another CA, but which trusts the real server
  const dir = await makeIdentityDir(stranger.ca, tempDir(t), 'admin', p.ca.certPem);
  const client = new WardHttpClient({ servers: [srv.url], identity: loadIdentity(dir) });
  t.after(() => client.close());
  const e = await rejectsWith(client.request('GET', '/'), 'ERR_TLS_CLIENT_REJECTED');
  assert.equal(e.exitCode, 4);
  assert.equal(srv.requests, 0);
});

test('a server offering only TLS 1.2 is ERR_TLS_HANDSHAKE', async (t) => {
  const p = await pki();
  const srv = await startServer(p, (_req, res) => sendJson(res, 200, {}), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  t.after(() => srv.close());
  const client = await clientFor(t, [srv.url]);
  await rejectsWith(client.request('GET', '/'), 'ERR_TLS_HANDSHAKE');
});

test('answers are size-bounded and requests time out', async (t) => {
  const p = await pki();
  const srv = await startServer(p, (req, res) => {
    if (req.url === '/big') sendJson(res, 200, { pad: 'x'.repeat(5000) });
    else if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('"');
      res.end(`${'y'.repeat(5000)}"`);
    } // '/slow' never answers
  });
  t.after(() => srv.close());
  const client = await clientFor(t, [srv.url], { maxResponseBytes: 1000 });
  await rejectsWith(client.request('GET', '/big'), 'ERR_API_BAD_RESPONSE');
  await rejectsWith(client.request('GET', '/chunked'), 'ERR_API_BAD_RESPONSE');
  const started = Date.now();
  const e = await rejectsWith(client.request('GET', '/slow', { timeoutMs: 300 }), 'ERR_API_UNAVAILABLE');
  assert.match(e.message, /ETIMEDOUT/);
  assert.ok(Date.now() - started < 5000);
});

test('a read on a kept-alive connection the server has just closed is sent again on a new one; a write is not', async (t) => {
  const p = await pki();
  const perSocket = new WeakMap<object, number>();
  // every connection serves one request, then drops the next one unanswered (a server closing idle connections)
  const srv = await startServer(p, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n > 1) req.socket.destroy();
    else sendJson(res, 200, { n });
  });
  t.after(() => srv.close());
  const client = await clientFor(t, [srv.url]);
  assert.deepEqual(await client.request('GET', '/a'), { n: 1 });
  assert.deepEqual(await client.request('GET', '/b'), { n: 1 });
  assert.equal(srv.connections, 2);
  await rejectsWith(client.request('PUT', '/c', { body: {} }), 'ERR_API_UNAVAILABLE');
});

test('close() ends a request in flight: it is neither sent again nor moved on to another server', async (t) => {
  const p = await pki();
  // answers everything but /poll, which it holds like a long-poll that has not fired yet
  const holding = await startServer(p, (req, res) => req.url !== '/poll' && sendJson(res, 200, { ok: true }));
  const other = await startServer(p, (_req, res) => sendJson(res, 200, { ok: true }));
  t.after(() => holding.close());
  t.after(() => other.close());
  // the timeout only bounds what a re-sent poll would wait for, so that a regression fails instead of hanging
  const client = await clientFor(t, [holding.url, other.url], { timeoutMs: 2000 });
  await client.request('GET', '/warm');
  const poll = client.request('GET', '/poll'); // on the kept-alive connection
  while (holding.requests < 2) await new Promise((r) => setTimeout(r, 5));
  client.close();
  await rejectsWith(poll, 'ERR_API_UNAVAILABLE');
  assert.equal(holding.requests, 2);
  assert.equal(other.requests, 0);
});
