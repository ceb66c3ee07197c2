/**
 * WardClient: the library applications use to read their secrets (exported from the package
 * `ward`), and the engine under `ward run`.
 *
 *   const ward = WardClient.fromEnv();               // WARD_SERVER, WARD_IDENTITY
 *   const { secrets } = await ward.getAll('shop', 'prod');
 *   for await (const set of ward.watch('shop', 'prod')) reload(set);
 *
 * Transport is src/client/http.ts: mTLS with the workload identity (key.pem, cert.pem, ca.pem),
 * the server verified against the deployment CA, failover across several servers. Values are
 * `Buffer`s (a secret may be binary); callers zero them when done.
 *
 * Watching uses the long-poll `GET /v1/watch/{app}/{env}?revision=N&wait=S` (docs/api.md). A server
 * without that route (404) is polled through the batch read's `revision` instead, so a client is
 * never stuck on an older server.
 */
import { WardError } from '../errors.ts';
import { E2E_CONTENT_TYPE, E2E_HEADER } from '../formats/sealed/e2e.ts';
import { isValidSegment } from '../pki/spiffe.ts';
import type { WhoAmI } from './admin.ts';
import { WardHttpClient } from './http.ts';
import { describeIdentity, loadIdentity, type Identity } from './identity.ts';
import { watchIdentityDir } from './identity-watch.ts';
import type { Renewer } from './renew.ts';
import { retry, type RetryOptions } from './wait.ts';

export type SecretKind = 'env' | 'file';

export interface Secret {
  app: string;
  env: string;
  name: string;
  version: number;
  kind: SecretKind;
  /** True when the value is ciphertext sealed to the app (zero-knowledge mode). */
  sealed: boolean;
  value: Buffer;
}

export interface SecretSet {
  app: string;
  env: string;
  /** Changes whenever any secret of APP/ENV changes. */
  revision: number;
  secrets: Secret[];
}

export type { WhoAmI };

export interface WardClientOptions {
  /** Server URLs, tried in order with failover; a string may list several separated by commas. */
  servers: string | string[];
  /** An identity already loaded, or the directory holding key.pem, cert.pem and ca.pem. */
  identity: Identity | string;
  /** Overall time limit of one request to one server (default 30 s). */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /**
   * With an identity directory: use a renewed or replaced key.pem/cert.pem for new connections as
   * soon as it appears (default true).
   */
  reloadIdentity?: boolean;
  /** With an identity directory: renew the certificate when two thirds of its lifetime has passed (docs/enrol.md). */
  renew?: boolean;
  /** Told about renewals and identity reloads. */
  log?: (message: string) => void;
}

export interface WatchOptions {
  /** Start from this revision (default: the current one, so the first yield is the first change). */
  revision?: number;
  signal?: AbortSignal;
  /** Long-poll length asked of the server, in seconds (≤ 60). */
  waitSeconds?: number;
  /** Interval of the batch-read fallback for servers without the watch route. */
  pollMs?: number;
  /** Batch reads encrypted end to end (as {@link WardClient.getAll}). */
  e2e?: boolean;
  /** Told about transient failures; the watch retries them with backoff and never ends on them. */
  log?: (message: string) => void;
}

/** Splits `https://a:8443,https://b:8443` lists. */
export function splitServers(servers: string | readonly string[]): string[] {
  const list = (typeof servers === 'string' ? [servers] : servers).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  return list;
}

/** The app and env a workload certificate names in its SPIFFE ID, if it is a workload's. */
export function workloadOf(identity: Identity): { app: string; env: string; spiffeId: string } | undefined {
  const id = describeIdentity(identity);
  return id.role === 'workload' && id.app && id.env ? { app: id.app, env: id.env, spiffeId: id.spiffeId } : undefined;
}

interface WireSecret {
  name: string;
  version: number;
  kind: SecretKind;
  sealed: boolean;
  value: string;
}

function badAnswer(what: string): WardError {
  return new WardError('ERR_API_BAD_RESPONSE', `malformed answer to ${what}`);
}

function decodeSecret(app: string, env: string, w: WireSecret, what: string): Secret {
  if (typeof w?.name !== 'string' || typeof w.value !== 'string' || !Number.isInteger(w.version)) throw badAnswer(what);
  return { app, env, name: w.name, version: w.version, kind: w.kind === 'file' ? 'file' : 'env', sealed: w.sealed === true, value: Buffer.from(w.value, 'base64') };
}

const seg = (s: string, what: string) => {
  if (!isValidSegment(s)) throw new WardError('ERR_USAGE', `invalid ${what} ${JSON.stringify(s.slice(0, 140))}`, { hint: 'names use letters, digits, ".", "_" and "-"' });
  return encodeURIComponent(s);
};

export class WardClient {
  /** The identity in use; replaced when the identity directory changes (reloadIdentity). */
  identity: Identity;
  private http: WardHttpClient;
  private readonly makeHttp: (identity: Identity) => WardHttpClient;
  private readonly stops: (() => void)[] = [];

  /**
   * @throws WardError ERR_USAGE (no or bad server URL), identity errors of loadIdentity
   */
  constructor(options: WardClientOptions) {
    const servers = splitServers(options.servers);
    if (servers.length === 0) throw new WardError('ERR_USAGE', 'no server given', { hint: 'pass --server URL or set WARD_SERVER=https://HOST:8443' });
    this.identity = typeof options.identity === 'string' ? loadIdentity(options.identity) : options.identity;
    this.makeHttp = (identity) => new WardHttpClient({
      servers,
      identity,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      userAgent: 'ward-client',
    });
    this.http = this.makeHttp(this.identity);
    const dir = typeof options.identity === 'string' ? options.identity : undefined;
    if (dir !== undefined && options.reloadIdentity !== false) this.stops.push(watchIdentityDir(dir, () => this.reloadIdentity(dir, options.log)));
    if (dir !== undefined && options.renew) {
      // loaded only for long-lived clients: renewal needs CSR and certificate code a one-shot
      // `ward run` would load for nothing
      let renewer: Renewer | undefined;
      let stopped = false;
      this.stops.push(() => {
        stopped = true;
        renewer?.stop();
      });
      void import('./renew.ts').then(({ startRenewer }) => {
        if (stopped) return;
        renewer = startRenewer({
          dir,
          servers,
          ...(options.log ? { log: options.log } : {}),
          // use the new certificate at once, without waiting for the directory watch
          onRenewed: () => this.reloadIdentity(dir, options.log),
        });
      });
    }
  }

  /** Rebuilds the TLS context from the identity directory if it holds a new, whole identity. */
  private reloadIdentity(dir: string, log: ((message: string) => void) | undefined): void {
    let next: Identity;
    try {
      next = loadIdentity(dir);
    } catch (e) {
      // mid-rotation or broken: keep the current identity; the next change is looked at again
      log?.(`identity in ${dir} changed but cannot be used yet: ${(e as Error).message}`);
      return;
    }
    if (next.cert === this.identity.cert && next.key === this.identity.key && next.ca === this.identity.ca) return;
    const old = this.http;
    this.identity = next;
    this.http = this.makeHttp(next);
    log?.(`using the new identity in ${dir} (serial ${describeIdentity(next).serial})`);
    // requests in flight (a long-poll) finish on the old connections; then they go
    const retire = setTimeout(() => old.close(), 120_000);
    retire.unref();
    this.stops.push(() => {
      clearTimeout(retire);
      old.close();
    });
  }

  /**
   * A client configured from `WARD_SERVER` and `WARD_IDENTITY`.
   * @throws WardError ERR_USAGE when either is unset
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): WardClient {
    if (!env.WARD_IDENTITY) throw new WardError('ERR_USAGE', 'WARD_IDENTITY is not set', { hint: 'set it to the identity directory (key.pem, cert.pem, ca.pem)' });
    return new WardClient({ servers: env.WARD_SERVER ?? '', identity: env.WARD_IDENTITY });
  }

  /** The server URLs in failover order. */
  get servers(): string[] {
    return this.http.servers.map((s) => s.url);
  }

  /**
   * One secret.
   * @throws WardError ERR_API_DENIED (denied or absent: the server does not tell them apart),
   *   ERR_API_UNAVAILABLE, ERR_TLS_*
   */
  async get(app: string, env: string, name: string, options: { version?: number; e2e?: boolean } = {}): Promise<Secret> {
    const what = `${app}/${env}/${name}`;
    const path = `/v1/secrets/${seg(app, 'app')}/${seg(env, 'env')}/${seg(name, 'name')}`;
    const query = { version: options.version };
    const res = options.e2e ? await this.getEncrypted<WireSecret>(path, query) : await this.http.request<WireSecret>('GET', path, { query });
    return decodeSecret(app, env, res, what);
  }

  /**
   * Every secret of APP/ENV this identity may read, with the env's revision. With `e2e`, the
   * answer is encrypted by the server to a key made for this one request (docs/api.md), so
   * nothing between the two (a TLS-terminating proxy) sees the values.
   * @throws WardError ERR_API_DENIED, ERR_API_UNAVAILABLE, ERR_TLS_*; ERR_API_BAD_RESPONSE when an
   *   e2e answer is not encrypted
   */
  async getAll(app: string, env: string, options: { e2e?: boolean } = {}): Promise<SecretSet> {
    const what = `${app}/${env}`;
    const path = `/v1/env/${seg(app, 'app')}/${seg(env, 'env')}`;
    const res = options.e2e ? await this.getEncrypted<{ revision: number; secrets: WireSecret[] }>(path) : await this.http.request<{ revision: number; secrets: WireSecret[] }>('GET', path);
    if (!res || !Number.isInteger(res.revision) || !Array.isArray(res.secrets)) throw badAnswer(what);
    return { app, env, revision: res.revision, secrets: res.secrets.map((s) => decodeSecret(app, env, s, what)) };
  }

  /** A GET whose answer is encrypted to an ephemeral age key that lives only in this call. */
  private async getEncrypted<T>(path: string, query: Record<string, number | undefined> = {}): Promise<T> {
    const { X25519Identity, decrypt } = await import('../formats/age/index.ts');
    const key = X25519Identity.generate();
    const res = await this.http.requestBytes('GET', path, { query, headers: { [E2E_HEADER]: key.recipient.toString() } });
    if (!res.contentType.startsWith(E2E_CONTENT_TYPE)) {
      throw new WardError('ERR_API_BAD_RESPONSE', `${res.server} did not encrypt its answer end to end`, { hint: 'the server (or something in between) does not support --e2e' });
    }
    const json = await decrypt([key], res.body);
    try {
      return JSON.parse(json.toString('utf8')) as T;
    } catch (e) {
      throw new WardError('ERR_API_BAD_RESPONSE', `the end-to-end answer from ${res.server} is not JSON`, { cause: e });
    } finally {
      json.fill(0);
    }
  }

  /** Who the server says this identity is. */
  whoami(): Promise<WhoAmI> {
    return this.http.request<WhoAmI>('GET', '/v1/whoami');
  }

  /**
   * Waits until APP/ENV's revision differs from `revision` or `waitSeconds` pass; returns the
   * revision then (equal to `revision` on timeout).
   * @throws WardError ERR_API_NOT_FOUND when the server has no watch route
   */
  async waitForChange(app: string, env: string, revision: number, waitSeconds = 55): Promise<number> {
    const wait = Math.max(0, Math.min(60, Math.floor(waitSeconds)));
    const res = await this.http.request<{ revision: number }>('GET', `/v1/watch/${seg(app, 'app')}/${seg(env, 'env')}`, {
      query: { revision, wait },
      timeoutMs: (wait + 15) * 1000,
    });
    if (!res || !Number.isInteger(res.revision)) throw badAnswer(`watch ${app}/${env}`);
    return res.revision;
  }

  /**
   * Yields APP/ENV's secrets each time they change, until `signal` aborts. Transient failures
   * (server down, failing over) are retried with backoff without ending the iteration; a denied
   * read ends it with the error.
   */
  async *watch(app: string, env: string, options: WatchOptions = {}): AsyncGenerator<SecretSet> {
    try {
      yield* this.watchLoop(app, env, options);
    } catch (e) {
      // aborting (or closing the client under a pending long-poll) ends the iteration quietly
      if (!options.signal?.aborted) throw e;
    }
  }

  private async *watchLoop(app: string, env: string, options: WatchOptions): AsyncGenerator<SecretSet> {
    const { signal } = options;
    const patient: RetryOptions = { waitMs: 0, maxMs: 10_000, ...(signal ? { signal } : {}), ...(options.log ? { log: options.log } : {}) };
    let revision = options.revision ?? (await retry(() => this.getAll(app, env, { e2e: options.e2e === true }), patient)).revision;
    let longPoll = true;
    while (!signal?.aborted) {
      let next: number;
      if (longPoll) {
        try {
          next = await retry(() => this.waitForChange(app, env, revision, options.waitSeconds), patient);
        } catch (e) {
          if (!(e instanceof WardError && (e.code === 'ERR_API_NOT_FOUND' || e.code === 'ERR_API_BAD_REQUEST'))) throw e;
          options.log?.('the server has no watch route; polling instead');
          longPoll = false;
          continue;
        }
        if (next === revision) continue;
        const set = await retry(() => this.getAll(app, env, { e2e: options.e2e === true }), patient);
        revision = set.revision;
        yield set;
      } else {
        await delay(options.pollMs ?? 5_000, signal);
        if (signal?.aborted) break;
        const set = await retry(() => this.getAll(app, env, { e2e: options.e2e === true }), patient);
        if (set.revision === revision) continue;
        revision = set.revision;
        yield set;
      }
    }
  }

  /** Closes idle connections and stops watching and renewing the identity. */
  close(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.http.close();
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
