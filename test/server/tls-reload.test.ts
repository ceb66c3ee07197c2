/**
 * Hot reload of the server certificate: a real deployment (`ward init`), the server started by
 * main.ts in this process, the certificate and key on disk replaced by a new pair, and new
 * connections — to the mTLS API and to the enrolment listener — see the new certificate without
 * a restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type WardConfig } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/server/main.ts';
import { createCA, loadCA } from '../../src/pki/ca.ts';
import { issueCertificate } from '../../src/pki/issue.ts';
import { generateKeyPair } from '../../src/pki/keys.ts';
import { writeFileAtomic, writeIdentityDir } from '../../src/pki/identity-dir.ts';
import { WardError } from '../../src/errors.ts';
import { WardClient } from '../../src/client/ward-client.ts';
import { initDeployment, type Deployment } from '../client/deployment.ts';

let dep: Deployment;
let config: WardConfig;
let server: RunningServer;

before(async () => {
  dep = initDeployment();
  config = loadConfig(dep.dir);
  config.server.enrollListen = { host: '127.0.0.1', port: 0 };
  server = await startServer(config, { listen: '127.0.0.1:0', healthListen: '', env: {}, logLevel: 'fatal' });
});

after(async () => {
  await server?.close();
  dep?.remove();
});

/** The serial of the certificate a new TLS connection to `port` is shown (no client certificate needed to see it). */
async function servedSerial(port: number): Promise<string> {
  const ca = readFileSync(config.server.tls.clientCa, 'utf8');
  const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, minVersion: 'TLSv1.3' });
  try {
    await once(socket, 'secureConnect');
    return socket.getPeerX509Certificate()!.serialNumber.toLowerCase();
  } finally {
    socket.destroy();
  }
}

async function waitForSerial(port: number, serial: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    if ((await servedSerial(port)) === serial) return;
    if (Date.now() > end) throw new Error(`port ${port} never served ${serial}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function rotate(): Promise<string> {
  const ca = loadCA(readFileSync(config.ca.cert, 'utf8'), readFileSync(config.ca.key!, 'utf8'));
  const pair = generateKeyPair();
  const issued = await issueCertificate({ ca, role: 'server', name: 'server', publicKey: pair.publicKeyPem, dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  writeFileAtomic(config.server.tls.key, pair.privateKeyPem, 0o600);
  writeFileAtomic(config.server.tls.cert, issued.certPem, 0o644);
  return issued.serial;
}

test('a rotated server certificate is served to new connections without a restart (API and enrolment listener)', async () => {
  const apiPort = server.address.port;
  const enrolPort = server.enrollAddress!.port;
  const old = await servedSerial(apiPort);
  assert.equal(await servedSerial(enrolPort), old);
  const serial = await rotate();
  assert.notEqual(serial, old);
  // picked up by the watcher on its own (fs.watch or the periodic stat)
  await waitForSerial(apiPort, serial);
  await waitForSerial(enrolPort, serial);
  // a full mTLS request on a new connection works with the new certificate
  const ward = new WardClient({ servers: `https://localhost:${apiPort}`, identity: join(dep.dir, 'admin') });
  try {
    assert.match((await ward.whoami()).spiffeId, /\/admin\//);
  } finally {
    ward.close();
  }
});

test('a half-written rotation (key not matching the certificate) is not applied', async () => {
  const apiPort = server.address.port;
  const current = await servedSerial(apiPort);
  writeFileAtomic(config.server.tls.key, generateKeyPair().privateKeyPem, 0o600);
  assert.equal(server.reloadTls(), false);
  assert.equal(await servedSerial(apiPort), current);
  const serial = await rotate();
  server.reloadTls();
  assert.equal(await servedSerial(apiPort), serial);
});

test('a client CA bundle that gains a CA is used for new connections without a restart', async () => {
  const apiPort = server.address.port;
  const ca = readFileSync(config.server.tls.clientCa, 'utf8');
  const other = await createCA({ trustDomain: config.server.trustDomain });
  const pair = generateKeyPair();
  const issued = await issueCertificate({ ca: other, role: 'admin', name: 'second-ca-admin', publicKey: pair.publicKeyPem });
  const dir = join(dep.root, 'second-ca-admin');
  // the client trusts the deployment CA for the server; its own certificate is from the new CA
  writeIdentityDir(dir, { keyPem: pair.privateKeyPem, certPem: issued.certPem, caPem: ca });
  const attempt = async () => {
    const ward = new WardClient({ servers: `https://localhost:${apiPort}`, identity: dir, reloadIdentity: false });
    try {
      return (await ward.whoami()).spiffeId;
    } finally {
      ward.close();
    }
  };
  await assert.rejects(attempt(), (e: unknown) => e instanceof WardError && /ERR_TLS_CLIENT_REJECTED|ERR_API_UNAUTHENTICATED/.test(e.code));
  writeFileAtomic(config.server.tls.clientCa, `${ca.trimEnd()}\n${other.certPem}`, 0o644);
  server.reloadTls();
  assert.match(await attempt(), /\/admin\/second-ca-admin$/);
});
