/** A throwaway deployment PKI and a real mTLS HTTPS server for client tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, type CertificateAuthority } from '../../src/pki/ca.ts';
import { issueCertificate } from '../../src/pki/issue.ts';
import { generateKeyPair } from '../../src/pki/keys.ts';
import { writeIdentityDir } from '../../src/pki/identity-dir.ts';

export interface Pki {
  ca: CertificateAuthority;
  serverKey: string;
  serverCert: string;
}

export async function makePki(trustDomain = 'test.local', hosts: { dnsNames?: string[]; ips?: string[] } = { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] }): Promise<Pki> {
  const ca = await createCA({ trustDomain });
  const kp = generateKeyPair();
  const server = await issueCertificate({ ca, role: 'server', name: 'server', publicKey: kp.publicKeyPem, ...hosts });
  return { ca, serverKey: kp.privateKeyPem, serverCert: server.certPem };
}

/** Writes an admin identity directory issued by `ca` and returns its path. */
export async function makeIdentityDir(ca: CertificateAuthority, parent: string, name = 'admin', trustCa: string = ca.certPem): Promise<string> {
  const kp = generateKeyPair();
  const cert = await issueCertificate({ ca, role: 'admin', name, publicKey: kp.publicKeyPem });
  const dir = join(parent, name);
  writeIdentityDir(dir, { keyPem: kp.privateKeyPem, certPem: cert.certPem, caPem: trustCa });
  return dir;
}

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface TestServer {
  server: Server;
  url: string;
  port: number;
  connections: number;
  requests: number;
  close(): Promise<void>;
}

/** An HTTPS server that requires a client certificate from `pki.ca`, on 127.0.0.1, port 0. */
export async function startServer(pki: Pki, handler: Handler, extra: ServerOptions = {}): Promise<TestServer> {
  const server = createServer({
    key: pki.serverKey,
    cert: pki.serverCert,
    ca: pki.ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ...extra,
  });
  const state: TestServer = {
    server,
    url: '',
    port: 0,
    connections: 0,
    requests: 0,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  server.on('secureConnection', () => state.connections++);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    state.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `https://127.0.0.1:${state.port}`;
  return state;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A port nothing listens on (bound then released). */
export async function deadPort(): Promise<number> {
  const { createServer: createNetServer } = await import('node:net');
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
