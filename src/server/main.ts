/**
 * Running the server: opens the store and the master key provider named by ward.toml ([keys],
 * src/keys/index.ts), unseals it with the secrets given at start if any, loads the TLS material,
 * builds the app (app.ts) and listens — the only place that does. A sealed server listens too but
 * answers only the status and unseal routes, and the health listener reports it not ready. Also the health
 * listener and the graceful drain on SIGTERM/SIGINT: stop accepting, let in-flight requests finish
 * (their audit records included), close the store, drop the master key.
 *
 * Settings come from ward.toml, then the environment (WARD_LISTEN, WARD_HEALTH_LISTEN), then
 * flags; later wins.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { parseListen, type ListenAddress, type WardConfig } from '../config.ts';
import { WardError } from '../errors.ts';
import { openFileKeyProvider, openKeyProvider } from '../keys/index.ts';
import type { KeyProvider } from '../keys/provider.ts';
import { loadCA, type CertificateAuthority } from '../pki/ca.ts';
import { identityFromCertificate } from '../pki/identity.ts';
import { fingerprint, parseCertificate } from '../pki/pem.ts';
import { openStore, resolveStoreConfig } from '../store/index.ts';
import type { CertificateRecord, Store } from '../store/types.ts';
import { buildServer, supportedCurves, tlsOptions, type FastifyInstance } from './app.ts';
import { buildEnrollServer } from './enroll.ts';
import { watchTls, type TlsWatcher } from './tls-reload.ts';
import { watchImportDir, type ImportDirWatcher } from './import-dir.ts';
import { createHealthServer } from './health.ts';
import { startAuditWorker, type AuditAppender } from './audit-worker.ts';

export interface StartOverrides {
  /** `--listen` (wins over WARD_LISTEN and ward.toml). */
  listen?: string;
  /** `--health-listen`; "" turns the health listener off. */
  healthListen?: string;
  env?: NodeJS.ProcessEnv;
  logLevel?: string;
  /**
   * Unseals a `passphrase` or `shamir` master key at start: the passphrase, or shares (one each).
   * Zeroed once used. A wrong one fails the start; too few shares leave the server sealed.
   */
  unseal?: Buffer[];
}

export interface RunningServer {
  app: FastifyInstance;
  /** Where the API listens (port resolved when 0 was asked). */
  address: ListenAddress;
  healthAddress: ListenAddress | undefined;
  /** The enrolment listener (docs/enrol.md), when `[server] enroll_listen` is set. */
  enrollAddress: ListenAddress | undefined;
  /** The master key provider (sealed until unsealed over the API when started without secrets). */
  keys: KeyProvider;
  /** Re-reads the TLS files now (they are also watched); true when a rotated set was applied. */
  reloadTls(): boolean;
  /** Graceful drain; safe to call more than once. */
  close(): Promise<void>;
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new WardError('ERR_CONFIG', `cannot read ${what} ${path}`, { cause: e, hint: 'check the paths in ward.toml' });
  }
}

/** API and health addresses: flags win over the environment, which wins over ward.toml. */
export function resolveListen(config: WardConfig, o: StartOverrides): { api: ListenAddress; health: ListenAddress | undefined } {
  const env = o.env ?? process.env;
  const apiText = o.listen ?? env.WARD_LISTEN;
  const healthText = o.healthListen ?? env.WARD_HEALTH_LISTEN;
  const flagOrEnv = (text: string, key: string) => parseListen(/^\d+$/.test(text) ? `127.0.0.1:${text}` : text, key, '--listen');
  return {
    api: apiText === undefined ? config.server.listen : flagOrEnv(apiText, 'listen'),
    health: healthText === undefined ? config.server.healthListen : healthText === '' ? undefined : flagOrEnv(healthText, 'health-listen'),
  };
}

/** Certificates of the deployment itself (server, first admin), so `ward cert ls` lists them. */
async function recordDeploymentCerts(store: Store, serverPem: string, adminPem: string | undefined): Promise<void> {
  const records: CertificateRecord[] = [];
  const server = parseCertificate(serverPem);
  records.push({
    serial: server.serialNumber.toLowerCase(),
    name: 'server',
    spiffeId: '',
    app: '',
    env: '',
    role: 'server',
    notBefore: server.validFromDate.getTime(),
    notAfter: server.validToDate.getTime(),
    fingerprint: fingerprint(server),
    issuedAt: server.validFromDate.getTime(),
    revokedAt: null,
  });
  if (adminPem !== undefined) {
    const cert = parseCertificate(adminPem);
    const id = identityFromCertificate(cert);
    records.push({
      serial: id.serial,
      name: id.name,
      spiffeId: id.spiffeId,
      app: id.app ?? '',
      env: id.env ?? '',
      role: id.role,
      notBefore: cert.validFromDate.getTime(),
      notAfter: cert.validToDate.getTime(),
      fingerprint: id.fingerprint,
      issuedAt: cert.validFromDate.getTime(),
      revokedAt: null,
    });
  }
  for (const r of records) {
    if (await store.getCertificate(r.serial)) continue;
    try {
      await store.recordCertificate(r);
    } catch (e) {
      // replicas starting together on one database: another one recorded it first
      if (!(e instanceof WardError && e.code === 'ERR_API_CONFLICT')) throw e;
    }
  }
}

function listenAddress(server: { address(): string | AddressInfo | null }): ListenAddress {
  const a = server.address() as AddressInfo;
  return { host: a.address, port: a.port };
}

/**
 * Starts the server described by `config`.
 * @throws WardError ERR_CONFIG, ERR_KEY_*, ERR_STORE_*, ERR_PKI_* — and ERR_IO when it cannot listen
 */
export async function startServer(config: WardConfig, overrides: StartOverrides = {}): Promise<RunningServer> {
  const listen = resolveListen(config, overrides);
  const tls = {
    cert: readPem(config.server.tls.cert, 'server certificate'),
    key: readPem(config.server.tls.key, 'server key'),
    ca: readPem(config.server.tls.clientCa, 'client CA certificate'),
  };
  let ca: CertificateAuthority | null = null;
  if (config.ca.key !== undefined) ca = loadCA(readPem(config.ca.cert, 'CA certificate'), readPem(config.ca.key, 'CA key'));
  let adminPem: string | undefined;
  try {
    adminPem = readFileSync(`${config.client.identity}/cert.pem`, 'utf8');
  } catch {
    // no admin identity next to this deployment: nothing to record
  }

  const keys: KeyProvider = openKeyProvider(config.keys, { env: overrides.env ?? process.env });
  const previousKeys: KeyProvider[] = [];
  let store: Store | undefined;
  let auditWorker: AuditAppender | undefined;
  let app: FastifyInstance | undefined;
  let enrollApp: FastifyInstance | undefined;
  let tlsWatcher: TlsWatcher | undefined;
  let importer: ImportDirWatcher | undefined;
  let health: Server | undefined;
  try {
    for (const path of config.keys.previous) previousKeys.push(openFileKeyProvider(path));
    await unsealAtStart(keys, overrides.unseal ?? []);
    // WARD_DATABASE_URL (containers, replicas) wins over ward.toml's [storage]
    const storage = resolveStoreConfig(config.storage, overrides.env ?? process.env);
    store = await openStore(storage);
    await recordDeploymentCerts(store, tls.cert, adminPem);
    // SQLite: audit appends (and their fsyncs) on a worker thread. PostgreSQL: the store's own pool
    // appends, serialised by the database so that replicas share one chain.
    if (storage.driver === 'sqlite') auditWorker = await startAuditWorker(storage.path);
    app = await buildServer({
      store,
      ...(auditWorker ? { auditStore: auditWorker } : {}),
      keys,
      previousKeys,
      tls,
      trustDomain: config.server.trustDomain,
      ca,
      sharedStore: storage.driver === 'postgres',
      sources: { allow: config.server.allowSources, deny: config.server.denySources },
      workloadTtlMs: config.pki.workloadTtlMs,
      ...(overrides.logLevel ? { logLevel: overrides.logLevel } : {}),
    });
    try {
      await app.listen({ host: listen.api.host, port: listen.api.port });
    } catch (e) {
      throw new WardError('ERR_IO', `cannot listen on ${listen.api.host}:${listen.api.port}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
    }
    auditWorker?.watchConnections(app.server);
    const enrollAt = config.server.enrollListen;
    if (enrollAt) {
      enrollApp = await buildEnrollServer({
        store,
        ...(auditWorker ? { auditStore: auditWorker } : {}),
        tls,
        ca,
        trustDomain: config.server.trustDomain,
        workloadTtlMs: config.pki.workloadTtlMs,
        rateLimit: { burst: config.server.enrollRate, perMinute: config.server.enrollRate },
        ...(overrides.logLevel ? { logLevel: overrides.logLevel } : {}),
      });
      try {
        await enrollApp.listen({ host: enrollAt.host, port: enrollAt.port });
      } catch (e) {
        throw new WardError('ERR_IO', `cannot listen on ${enrollAt.host}:${enrollAt.port} (enrolment): ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
      }
      auditWorker?.watchConnections(enrollApp.server);
    }
    // a rotated server certificate, key or client CA bundle applies to new connections at once
    const apiServer = app.server as unknown as { setSecureContext(o: object): void };
    const enrollServer = enrollApp?.server as unknown as { setSecureContext(o: object): void } | undefined;
    const log = app.log;
    tlsWatcher = watchTls(config.server.tls, (next) => {
      apiServer.setSecureContext(tlsOptions(next));
      enrollServer?.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ecdhCurve: supportedCurves() });
      log.warn('reloaded the TLS certificate, key and client CA');
    }, { onError: (e) => log.error({ err: e }, 'TLS files changed but cannot be used; keeping the current ones') });
    // after a master key rotation ([keys] previous), the server identity moves under the new key
    if (!keys.sealed && previousKeys.length > 0) {
      await app.ward.serverIdentity.rewrap().catch((e: unknown) => log.error({ err: e }, 'cannot move the server identity under the current master key'));
    }
    // config sealed to the server (docs/sealed.md), loaded now and on every change
    if (config.server.importDir) importer = watchImportDir({ dir: config.server.importDir, ctx: app.ward, identity: app.ward.serverIdentity, log });
    let draining = false;
    const readyStore = store;
    if (listen.health) {
      health = createHealthServer({
        registry: app.ward.metrics.registry,
        sealed: () => keys.sealed,
        ready: async () => {
          if (draining) return false;
          await readyStore.listPolicies();
          return true;
        },
      });
      health.listen(listen.health.port, listen.health.host);
      try {
        await once(health, 'listening');
      } catch (e) {
        throw new WardError('ERR_IO', `cannot listen on ${listen.health.host}:${listen.health.port} (health)`, { cause: e });
      }
    }
    const running = app;
    const openedStore = store;
    const openedWorker = auditWorker;
    const healthServer = health;
    const openedEnroll = enrollApp;
    const watcher = tlsWatcher;
    const openedImporter = importer;
    let closing: Promise<void> | null = null;
    return {
      app: running,
      address: listenAddress(running.server),
      healthAddress: healthServer ? listenAddress(healthServer) : undefined,
      enrollAddress: openedEnroll ? listenAddress(openedEnroll.server) : undefined,
      keys,
      reloadTls: () => watcher.check(),
      close() {
        closing ??= (async () => {
          draining = true;
          watcher.close();
          openedImporter?.close();
          await openedImporter?.idle();
          await openedEnroll?.close();
          // fastify: stop accepting, answer 503 to new requests on open connections, wait for
          // in-flight ones; its onClose hook waits for pending audit records.
          await running.close();
          if (healthServer) await new Promise<void>((r) => healthServer.close(() => r()));
          await openedWorker?.close();
          await openedStore.close();
          keys.close();
          for (const k of previousKeys) k.close();
        })();
        return closing;
      },
    };
  } catch (e) {
    tlsWatcher?.close();
    importer?.close();
    await enrollApp?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    health?.close();
    await auditWorker?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    keys.close();
    for (const k of previousKeys) k.close();
    throw e;
  }
}

/** Submits the secrets given at start (zeroing each); a wrong one is an error, too few leave it sealed. */
async function unsealAtStart(keys: KeyProvider, secrets: Buffer[]): Promise<void> {
  try {
    if (secrets.length > 0 && keys.kind !== 'passphrase' && keys.kind !== 'shamir') {
      throw new WardError('ERR_USAGE', `the ${keys.kind} key provider is not unsealed with a passphrase or shares`, { hint: 'drop --unseal-file' });
    }
    for (const secret of secrets) {
      if (!keys.sealed) break;
      await keys.unseal(secret);
    }
  } finally {
    for (const secret of secrets) secret.fill(0);
  }
}

/** Drains and exits on the first SIGTERM or SIGINT; a second one exits at once. */
export function drainOnSignals(server: RunningServer, log: (message: string) => void): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    log(`${signal}: draining`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
