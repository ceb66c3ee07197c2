/**
 * Test fixtures for the server: a throwaway CA per test file (src/pki), a real SQLite store in a
 * temp dir, the server listening on port 0 over real mTLS, and a small HTTPS client per identity.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createCA, type CertificateAuthority } from '../../src/pki/ca.ts';
import { issueCertificate } from '../../src/pki/issue.ts';
import { generateKeyPair } from '../../src/pki/keys.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.ts';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { buildServer, type ServerOptions } from '../../src/server/app.ts';
import type { FastifyInstance } from 'fastify';

export const TRUST_DOMAIN = 'ward.test';

export interface Credential {
  cert: string;
  key: string;
  serial: string;
  spiffeId: string | undefined;
  notBefore: Date;
  notAfter: Date;
}

export interface Pki {
  ca: CertificateAuthority;
  server: Credential;
  admin: Credential;
  workload(app: string, env: string, instance?: string, opts?: { now?: Date; ttl?: number }): Promise<Credential>;
}

async function issue(ca: CertificateAuthority, o: Omit<Parameters<typeof issueCertificate>[0], 'ca' | 'publicKey'>): Promise<Credential> {
  const pair = generateKeyPair();
  const issued = await issueCertificate({ ...o, ca, publicKey: pair.publicKeyPem });
  return { cert: issued.certPem, key: pair.privateKeyPem, serial: issued.serial, spiffeId: issued.spiffeId, notBefore: issued.notBefore, notAfter: issued.notAfter };
}

export async function makePki(trustDomain = TRUST_DOMAIN): Promise<Pki> {
  const ca = await createCA({ trustDomain });
  const server = await issue(ca, { role: 'server', name: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] });
  const admin = await issue(ca, { role: 'admin', name: 'root' });
  return {
    ca,
    server,
    admin,
    workload: (app, env, instance = 'i1', opts = {}) => issue(ca, { role: 'workload', name: instance, app, env, ...opts }),
  };
}

export interface TestServer {
  app: FastifyInstance;
  port: number;
  store: SqliteStore;
  dbPath: string;
  dir: string;
  pki: Pki;
  close(): Promise<void>;
}

export async function startTestServer(pki: Pki, options: Partial<ServerOptions> & { host?: string } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ward-server-test-'));
  const dbPath = join(dir, 'ward.db');
  const store = await openSqliteStore(dbPath);
  const { host = '127.0.0.1', ...rest } = options;
  const app = await buildServer({
    store,
    keys: rawKeyProvider('test', randomBytes(32)),
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.certPem },
    trustDomain: TRUST_DOMAIN,
    ca: pki.ca,
    ...rest,
  });
  await app.listen({ port: 0, host });
  const port = (app.server.address() as AddressInfo).port;
  return {
    app,
    port,
    store,
    dbPath,
    dir,
    pki,
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Client {
  call(method: string, path: string, body?: unknown, opts?: { raw?: string | Buffer; contentType?: string }): Promise<Answer>;
  close(): void;
}

/** An HTTPS client presenting `cred` (keep-alive, one agent). */
export function client(server: { port: number; pki: Pki }, cred: Pick<Credential, 'cert' | 'key'> | null, host = '127.0.0.1'): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: server.pki.ca.certPem, ...(cred ? { cert: cred.cert, key: cred.key } : {}), servername: 'localhost' });
  return {
    call(method, path, body, opts = {}) {
      const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
      return new Promise((resolve, reject) => {
        const req = request(
          {
            host,
            port: server.port,
            method,
            path,
            agent,
            headers: payload === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown = undefined;
              try {
                parsed = JSON.parse(text);
              } catch {
                // not JSON
              }
              resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        if (payload !== undefined) req.write(payload);
        req.end();
      });
    },
    close: () => agent.destroy(),
  };
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
