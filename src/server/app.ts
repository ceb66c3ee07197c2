/**
 * The Ward API server as a fastify instance. {@link buildServer} assembles it and never listens
 * (src/server/main.ts does); tests build it, listen on port 0 and talk to it over real mTLS.
 *
 * Layout: the identity hook (identity.ts) covers every request; the error handler maps every
 * failure to `{"error": {code, message}}` with the status from src/errors.ts and audits it; the
 * protected context holds the authorization hook and the route plugins of routes/.
 */
import Fastify, { LogController, type FastifyContextConfig, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { constants as cryptoConstants } from 'node:crypto';
import type { CertificateAuthority } from '../pki/ca.ts';
import { KeyHierarchy } from '../keys/hierarchy.ts';
import type { KeyProvider } from '../keys/provider.ts';
import type { KeyWrapper } from '../crypto/envelope.ts';
import { WardError, isWardError, type WardErrorCode } from '../errors.ts';
import type { AuditInput, Store } from '../store/types.ts';
import { createAuditor, type Auditor, type AuditSink } from './audit.ts';
import { buildAuthorizer, checkPolicy, type Authorizer, type Operation, type Policy, type Principal } from './authz.ts';
import { createEnvCache, type EnvCache } from './env-cache.ts';
import { connectionIdentity, identityPlugin, sourceAddress } from './identity.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { errorBody } from './schemas.ts';
import { createVault, creatingKeks, storeKekStorage, type Vault } from './vault.ts';
import { secretRoutes } from './routes/secrets.ts';
import { adminRoutes } from './routes/admin.ts';
import { metaRoutes } from './routes/meta.ts';
import { watchRoutes } from './routes/watch.ts';
import { lifecycleRoutes } from './routes/lifecycle.ts';
import { recipientRoutes } from './routes/recipients.ts';
import { serverIdentity, type ServerIdentity } from './import-identity.ts';
import { keyRoutes } from './routes/keys.ts';
import { buildOpenApi, collectRoute, type RouteSchema } from './openapi.ts';
import { readFileSync } from 'node:fs';

export interface ServerOptions {
  store: Store;
  /** Where audit records go; default `store`. main.ts passes a worker-thread appender for SQLite (audit-worker.ts). */
  auditStore?: AuditSink;
  /** The master key provider; while it is sealed only the routes marked `whileSealed` are served. */
  keys: KeyProvider;
  /** Former master keys ([keys] previous): they still open what was wrapped before a master key rotation. */
  previousKeys?: KeyProvider[];
  /** How long an unwrapped KEK is trusted from memory (KeyHierarchy cacheMs). Default 60 s. */
  kekCacheMs?: number;
  /** PEM: the server's certificate and key, and the deployment CA that client certificates chain to. */
  tls: { cert: string; key: string; ca: string };
  trustDomain: string;
  /** The CA with its key, to issue certificates over the API; null: `POST /v1/certs` answers 503. */
  ca?: CertificateAuthority | null;
  /** Server-wide source lists (CIDR), ward.toml [server] allow_sources / deny_sources. */
  sources?: { allow?: string[]; deny?: string[] };
  /** How long a decrypted APP/ENV batch may be served from memory (env-cache.ts); 0: never. Default 2000. */
  envCacheTtlMs?: number;
  /**
   * The store is shared with other replicas (PostgreSQL): every batch read first checks the env's
   * revision in the store, so a write made through another replica is served at once, not after
   * the cache's TTL; and changes announced by `store.subscribe` (revocations, policies) apply here
   * as they commit anywhere.
   */
  sharedStore?: boolean;
  /** pino level; 'warn' by default so that no per-request line is logged on the hot path. */
  logLevel?: string;
  /** How often revocations made elsewhere (another replica) are re-read from the store. Default 5 s. */
  revocationRefreshMs?: number;
  /** Milliseconds a keep-alive connection may stay idle. Default 65 s. */
  keepAliveTimeoutMs?: number;
  /** Lifetime of renewed workload certificates (ward.toml [pki] workload_ttl). Default 24 h. */
  workloadTtlMs?: number;
  now?: () => number;
}

/** Everything the route plugins need; decorated on the instance as `ward`. */
export interface ServerContext {
  store: Store;
  vault: Vault;
  keys: KeyProvider;
  hierarchy: KeyHierarchy;
  /** The server's own age identity (sealed config, import); shared by replicas through the store. */
  serverIdentity: ServerIdentity;
  /** Seals the master key and drops every key and decrypted value held in memory at once. */
  seal(): void;
  auditor: Auditor;
  envCache: EnvCache;
  metrics: Metrics;
  revoked: Set<string>;
  ca: CertificateAuthority | null;
  trustDomain: string;
  now: () => number;
  authz(): Authorizer;
  /** Rebuilds the authorizer from the store's policies. @throws WardError ERR_CONFIG on a bad stored policy */
  reloadPolicies(): Promise<void>;
  /** Writes the audit record of this request (once) and waits until it is durable. */
  audit(req: FastifyRequest, outcome: string, detail?: string): Promise<void>;
  principal(req: FastifyRequest): Principal;
  /** A denial and a not-found must look alike to callers that may not list the path. */
  notFoundOrDenied(req: FastifyRequest, path: string, what: string): WardError;
}

/** What a route declares about itself in `config`. */
export interface RouteAudit {
  /** Audit operation, e.g. 'secret.read'. */
  action: string;
  /** Authorization operation checked before the handler; null: any authenticated caller. */
  op: Operation | null;
  /** The resource path to authorize and audit, from the validated request. */
  resource: (req: FastifyRequest) => string;
  /** Served while the master key is sealed (status, unseal, seal). */
  whileSealed?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    ward?: RouteAudit;
  }
  interface FastifyInstance {
    ward: ServerContext;
  }
  interface FastifyRequest {
    /** Set once this request's audit record has been written (or attempted). */
    audited: boolean;
    /**
     * The matched route's config, read once per request: fastify's `routeOptions` getter builds a
     * new object on every access.
     */
    wardConfig: FastifyContextConfig | null;
  }
}

/** The one message for "you may not" and "it is not there" (to callers who may not list it). */
export const DENIED_MESSAGE = 'not authorized';

const OUTCOMES: Partial<Record<WardErrorCode, string>> = {
  ERR_API_DENIED: 'denied',
  ERR_ENROLL_RENEW_REFUSED: 'denied',
  ERR_API_UNAUTHENTICATED: 'unauthenticated',
  ERR_API_NOT_FOUND: 'not-found',
  ERR_API_CONFLICT: 'conflict',
  ERR_API_TOO_LARGE: 'bad-request',
  ERR_API_BAD_REQUEST: 'bad-request',
};

function parsePolicies(records: { name: string; document: string }[]): Policy[] {
  return records.map((r) => {
    try {
      return checkPolicy(r.name, JSON.parse(r.document));
    } catch (e) {
      throw new WardError('ERR_CONFIG', `stored policy ${r.name} is invalid`, { cause: e, hint: 'fix it with ward policy set' });
    }
  });
}

/** TLS settings: TLS 1.3 only, client certificate required; post-quantum hybrid first when available. */
export function tlsOptions(tls: ServerOptions['tls']): SecureContextOptions & { requestCert: true; rejectUnauthorized: true; secureOptions: number } {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ecdhCurve: supportedCurves(),
    // No session tickets: each connection is a full handshake whose client certificate is
    // verified against the CA (and the revoked list) anyway, clients connect rarely (ward run at
    // start-up, long-lived watches), and minting two TLS 1.3 tickets per connection cost ~14% of
    // the server's handshake CPU (bench/RESULTS.md). nginx in the benchmark has them off too.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
  };
}

let curves: string | undefined;
/** 'X25519MLKEM768:X25519:P-256' when this runtime's OpenSSL has ML-KEM, else 'X25519:P-256'. */
export function supportedCurves(): string {
  if (curves === undefined) {
    curves = 'X25519:P-256';
    try {
      createSecureContext({ ecdhCurve: 'X25519MLKEM768:X25519:P-256' });
      curves = 'X25519MLKEM768:X25519:P-256';
    } catch {
      // OpenSSL before 3.5: classical groups only
    }
  }
  return curves;
}

/** Builds the server (routes, hooks, TLS). Call `listen` on it, or use startServer (main.ts). */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const now = opts.now ?? Date.now;
  const app = Fastify({
    // Errors fastify raises before routing (malformed URL encoding, over-long parameters) take the
    // same path as every other failure: stable code, audited. No hooks ran for them yet.
    frameworkErrors: (error, req, reply) => {
      const verdict = connectionIdentity(req.socket, opts.trustDomain);
      if (!(verdict instanceof WardError)) req.caller = verdict;
      // `failure` is defined below, once the context exists; this runs only after construction.
      void failure(error, req, reply);
    },
    routerOptions: { maxParamLength: 256 },
    https: tlsOptions(opts.tls),
    logger: { level: opts.logLevel ?? 'warn' },
    logController: new LogController({ disableRequestLogging: true }),
    // No pino child logger per request (~3 µs each on the hot path): req.log is the server's
    // logger, and the one per-request log line (failure, below) names the request id itself.
    childLoggerFactory: (logger) => logger,
    bodyLimit: 64 * 1024,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 65_000,
    // Time to receive a whole request (slow clients). No socket inactivity timeout: long-polls
    // (audit, watch) legitimately send nothing for up to a minute; idle keep-alive connections
    // are closed by keepAliveTimeout.
    requestTimeout: 30_000,
    connectionTimeout: 0,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  app.addSchema(errorBody);

  const kekCacheMs = opts.kekCacheMs ?? 60_000;
  const hierarchy = new KeyHierarchy(opts.keys, storeKekStorage(opts.store), { cacheMs: kekCacheMs, previous: opts.previousKeys ?? [] });
  // wraps under the current master, opens under any master still held (a master key rotation)
  const masters: KeyWrapper = {
    get keyId() {
      return opts.keys.keyId;
    },
    wrap: (dataKey, aad) => opts.keys.wrap(dataKey, aad),
    unwrap: (wrapped, aad, keyId) => hierarchy.unwrap(wrapped, aad, keyId),
  };
  const vault = createVault(hierarchy, { cacheMs: kekCacheMs, now, reload: (ref) => opts.store.getSecret(ref, ref.version) });
  const auditor = createAuditor(opts.auditStore ?? opts.store, { onError: (e) => app.log.error({ err: e }, 'audit append failed') });
  const envCache = revisionChecked(createEnvCache({ ttlMs: opts.envCacheTtlMs ?? 2000, now }), opts.sharedStore ? opts.store : undefined);
  const metrics = createMetrics({ auditQueueDepth: auditor.depth, dataKeyCache: vault.cacheSize, envCache: envCache.size });
  const revoked = await opts.store.revokedSerials();
  // Revocations made through this server apply at once (the revoke route adds to the set); those
  // made through another replica sharing the database are picked up within this interval.
  const refreshRevoked = () =>
    opts.store.revokedSerials().then(
      (serials) => {
        for (const serial of serials) revoked.add(serial);
      },
      (e: unknown) => app.log.warn({ err: e }, 'cannot refresh the revoked serials'),
    );
  // Also a backstop for a missed notification (a listener that was reconnecting).
  const revocationRefresh = setInterval(refreshRevoked, opts.revocationRefreshMs ?? 5000);
  revocationRefresh.unref();
  let authorizer = buildAuthorizer(parsePolicies(await opts.store.listPolicies()), opts.sources);

  const ctx: ServerContext = {
    store: creatingKeks(opts.store, hierarchy),
    vault,
    keys: opts.keys,
    hierarchy,
    serverIdentity: serverIdentity(opts.store, masters, now),
    seal() {
      hierarchy.seal();
      vault.clear();
      envCache.clear();
    },
    auditor,
    envCache,
    metrics,
    revoked,
    ca: opts.ca ?? null,
    trustDomain: opts.trustDomain,
    now,
    authz: () => authorizer,
    async reloadPolicies() {
      authorizer = buildAuthorizer(parsePolicies(await opts.store.listPolicies()), opts.sources);
    },
    audit(req, outcome, detail) {
      if (req.audited) return Promise.resolve();
      req.audited = true;
      return auditor.record(auditEntry(req, now(), outcome, detail));
    },
    principal(req) {
      // A CallerIdentity is a Principal (and more): no copy per call on the hot path.
      if (!req.caller) throw new WardError('ERR_API_UNAUTHENTICATED', 'a verified client certificate is required');
      return req.caller;
    },
    notFoundOrDenied(req, path, what) {
      const d = authorizer.decide(ctx.principal(req), 'list', path, sourceAddress(req));
      return d.decision === 'allow' ? new WardError('ERR_API_NOT_FOUND', `no such ${what}`) : new WardError('ERR_API_DENIED', DENIED_MESSAGE);
    },
  };
  app.decorate('ward', ctx);
  // Another replica's revocations and policy changes apply here as soon as they commit.
  const unsubscribe = opts.sharedStore && opts.store.subscribe
    ? opts.store.subscribe((change) => {
      if (change.kind === 'cert') void refreshRevoked();
      else if (change.kind === 'policy') ctx.reloadPolicies().catch((e: unknown) => app.log.error({ err: e }, 'cannot reload the policies'));
    })
    : undefined;
  app.decorateRequest('audited', false);
  app.decorateRequest('wardConfig', null);

  identityPlugin(app, { trustDomain: opts.trustDomain, revoked, now });

  // Callback style: an async hook costs a promise per request on the hot path.
  app.addHook('onResponse', (req, reply, done) => {
    metrics.observe(routeConfig(req).url ?? 'unmatched', req.method, reply.statusCode < 400 ? 'ok' : String(reply.statusCode), reply.elapsedTime / 1000);
    done();
  });

  app.setNotFoundHandler(async () => {
    throw new WardError('ERR_API_NOT_FOUND', 'no such route');
  });
  const failure = async (error: unknown, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { code, message } = classify(error);
    if (code === 'ERR_INTERNAL') req.log.error({ err: error, reqId: req.id }, 'internal error');
    const status = new WardError(code, message).status;
    try {
      await ctx.audit(req, OUTCOMES[code] ?? (status >= 500 ? 'error' : 'bad-request'), code);
    } catch {
      // The request already failed; the append failure is logged by the auditor.
    }
    return reply.code(status).type('application/json').send({ error: { code, message } });
  };
  app.setErrorHandler((error, req, reply) => failure(error, req, reply));

  const routes: RouteSchema[] = [];
  app.addHook('onRoute', (route) => collectRoute(routes, route));
  let openapi: string | undefined;
  const openapiText = () => (openapi ??= `${JSON.stringify(buildOpenApi(routes, packageVersion()), null, 2)}\n`);

  // A sealed master key: nothing but the status and unseal routes (health is another listener).
  app.addHook('preHandler', (req, _reply, done) => {
    if (!opts.keys.sealed || routeConfig(req).ward?.whileSealed) return done();
    done(new WardError('ERR_KEY_SEALED', 'the server is sealed: unseal it with ward operator unseal'));
  });
  await app.register(async (protectedApi) => {
    protectedApi.addHook('preHandler', (req, _reply, done) => {
      const route = routeConfig(req).ward;
      if (!route || route.op === null) return done();
      let d;
      try {
        d = authorizer.decide(ctx.principal(req), route.op, route.resource(req), sourceAddress(req));
      } catch (e) {
        return done(e as Error);
      }
      done(d.decision === 'deny' ? new WardError('ERR_API_DENIED', DENIED_MESSAGE, { cause: d }) : undefined);
    });
    await protectedApi.register(secretRoutes, { prefix: '/v1' });
    await protectedApi.register(adminRoutes, { prefix: '/v1' });
    await protectedApi.register(metaRoutes, { prefix: '/v1', openapi: openapiText });
    await protectedApi.register(watchRoutes, { prefix: '/v1' });
    await protectedApi.register(recipientRoutes, { prefix: '/v1' });
    await protectedApi.register(lifecycleRoutes, { prefix: '/v1', ...(opts.workloadTtlMs === undefined ? {} : { workloadTtlMs: opts.workloadTtlMs }) });
    await protectedApi.register(keyRoutes, { prefix: '/v1', destroyGraceMs: opts.sharedStore ? kekCacheMs : 0 });
  });

  // Drain: long-polls answer now; requests in flight finish (with their audit records) before
  // fastify's own close completes and the onClose hook below runs.
  app.addHook('preClose', async () => {
    auditor.stopWaiting();
    // A keep-alive connection that finishes its last request while we drain would otherwise stay
    // open until its idle timeout: close such connections as they become idle.
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    app.server.once('close', () => clearInterval(sweep));
  });
  app.addHook('onClose', async () => {
    clearInterval(revocationRefresh);
    unsubscribe?.();
    await auditor.close();
    vault.close();
    envCache.clear();
  });
  return app;
}

/**
 * With a shared store, a cached batch is served only if no replica has changed the env since: one
 * indexed read of the env's revision per request, in exchange for read-your-writes across replicas.
 */
function revisionChecked(cache: EnvCache, store: Store | undefined): EnvCache {
  if (!store) return cache;
  return {
    ...cache,
    async get(app, env, load) {
      const revision = await store.envRevision(app, env);
      const batch = await cache.get(app, env, load);
      if (batch.revision >= revision) return batch;
      cache.invalidate(app, env);
      return cache.get(app, env, load);
    },
  };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function auditEntry(req: FastifyRequest, time: number, outcome: string, detail: string | undefined): AuditInput {
  const route = routeConfig(req).ward;
  let path: string;
  try {
    path = route ? route.resource(req) : rawPath(req);
  } catch {
    path = rawPath(req);
  }
  // Paths come from validated params or, for refused requests, from raw input: bound them.
  path = path.slice(0, 512);
  const who = req.caller ?? req.presented;
  const entry: AuditInput = {
    time,
    identity: who?.spiffeId ?? '-',
    serial: who?.serial ?? '-',
    source: sourceAddress(req),
    operation: route?.action ?? `http.${req.method.toLowerCase()}`,
    path,
    outcome,
  };
  if (detail !== undefined) entry.detail = detail;
  return entry;
}

/** The matched route's config (its `url` and `method` included), cached on the request. */
function routeConfig(req: FastifyRequest): FastifyContextConfig & { url?: string } {
  return (req.wardConfig ??= req.routeOptions.config ?? {});
}

/** The request path for the audit log when no route matched: without the query, bounded, printable. */
function rawPath(req: FastifyRequest): string {
  const url = req.url.split('?')[0] ?? '';
  return url.slice(0, 256).replace(/[^\x21-\x7e]/g, '?');
}

/** Maps any error to a stable code and a message that is safe to send. */
function classify(error: unknown): { code: WardErrorCode; message: string } {
  if (isWardError(error)) {
    // Codes meant for the API go out as they are; crypto failures of stored rows are integrity errors.
    return { code: error.code, message: error.message };
  }
  const e = error as { code?: string; statusCode?: number; validation?: { instancePath?: string; message?: string }[]; validationContext?: string };
  if (e.validation) {
    const first = e.validation[0];
    const where = `${e.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    return { code: 'ERR_API_BAD_REQUEST', message: `invalid ${where}: ${first?.message ?? 'does not match the schema'}` };
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) return { code: 'ERR_API_TOO_LARGE', message: 'request body too large' };
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.statusCode === 415) return { code: 'ERR_API_BAD_REQUEST', message: 'content-type must be application/json' };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { code: 'ERR_API_BAD_REQUEST', message: e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'malformed JSON body' : 'malformed request' };
  }
  return { code: 'ERR_INTERNAL', message: 'internal error' };
}

export type { FastifyInstance, FastifyReply };
