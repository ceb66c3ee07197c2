/**
 * An HTTP client for one repository of an OCI distribution registry
 * (distribution-spec v1.1; Docker token auth: docs.docker.com/registry/spec/auth/token).
 *
 * Security rules:
 * - HTTPS with certificate verification unless `tlsVerify: false` for this side; only then is
 *   plain HTTP tried (after HTTPS without verification fails), as skopeo does.
 * - Credentials go only to the registry host they belong to, and (for Bearer auth) to the token
 *   realm that registry names, never over plain HTTP unless `tlsVerify: false`; a redirect to
 *   another host (blob storage) is followed without the Authorization header.
 * - Credentials and tokens never appear in errors or messages.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { WardError } from '../errors.ts';
import { readAll, release } from './transport.ts';
import type { Chunks } from './transport.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** Verify TLS certificates (default true); false also allows plain HTTP. */
  tlsVerify?: boolean;
  /** Explicit credentials (`--creds`); otherwise looked up in the auth file. */
  creds?: Credentials;
  /** Docker config.json-format auth file; default $REGISTRY_AUTH_FILE, else ~/.docker/config.json. */
  authfile?: string;
}

const MAX_ERROR_BODY = 64 << 10;
const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }), insecure: new https.Agent({ keepAlive: true, rejectUnauthorized: false }) };

/** Looks a host up in a Docker config.json (`auths`, base64 `user:pass` or username/password fields). */
export function credentialsFromAuthFile(host: string, authfile?: string): Credentials | undefined {
  const path = authfile ?? process.env.REGISTRY_AUTH_FILE ?? join(homedir(), '.docker', 'config.json');
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if (authfile !== undefined) throw new WardError('ERR_CONFIG', `cannot read auth file ${path}`, { cause: e });
    return undefined;
  }
  const auths = (cfg as { auths?: Record<string, { auth?: string; username?: string; password?: string }> }).auths ?? {};
  const keys = host === 'docker.io' ? ['docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'index.docker.io'] : [host, `https://${host}`, `http://${host}`];
  for (const k of keys) {
    const a = auths[k];
    if (!a) continue;
    if (a.auth) {
      const text = Buffer.from(a.auth, 'base64').toString('utf8');
      const i = text.indexOf(':');
      if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
    }
    if (a.username && a.password) return { username: a.username, password: a.password };
  }
  return undefined;
}

/** Parses a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string | undefined): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: Readable;
}

export class RegistryClient {
  readonly host: string;
  readonly repo: string;
  readonly #tlsVerify: boolean;
  readonly #creds: Credentials | undefined;
  readonly #actions: string;
  #base: string | undefined;
  #auth: string | undefined;
  #ready: Promise<void> | undefined;

  constructor(host: string, repo: string, opts: RegistryOptions, actions: 'pull' | 'pull,push') {
    this.host = host === 'docker.io' ? 'registry-1.docker.io' : host;
    this.repo = repo;
    this.#tlsVerify = opts.tlsVerify ?? true;
    this.#creds = opts.creds ?? credentialsFromAuthFile(host, opts.authfile);
    this.#actions = actions;
  }

  /** One raw HTTP exchange. */
  #send(url: URL, method: string, headers: OutgoingHttpHeaders, body?: Buffer | Chunks): Promise<Response> {
    const secure = url.protocol === 'https:';
    const agent = secure ? (this.#tlsVerify ? agents.https : agents.insecure) : agents.http;
    return new Promise((ok, fail) => {
      let bodyError: unknown;
      const req = (secure ? https : http).request(url, { method, headers, agent }, (res) => {
        ok({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('error', (e) => fail(bodyError ?? new WardError('ERR_IMAGE_REGISTRY', `cannot reach registry ${url.host}: ${e.message}`, {
        cause: e,
        hint: /EPROTO|wrong version/.test(e.message) ? 'the registry may speak plain HTTP: --src-tls-verify=false/--dest-tls-verify=false, for a local test registry only' : undefined,
      })));
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        // Each chunk is flushed before the next is requested: chunks may live in reused buffers.
        (async () => {
          for await (const c of body) {
            await new Promise<void>((done, bad) => req.write(c, (e) => (e ? bad(e) : done())));
            release(c);
          }
          req.end();
        })().catch((e: unknown) => {
          bodyError = e;
          req.destroy(e as Error);
        });
      }
    });
  }

  /** Finds the scheme (https, or http when allowed) and the authentication the registry wants. */
  async #init(): Promise<void> {
    const candidates = this.#tlsVerify ? ['https'] : ['https', 'http'];
    let ping: Response | undefined;
    let lastError: unknown;
    for (const scheme of candidates) {
      try {
        ping = await this.#send(new URL(`${scheme}://${this.host}/v2/`), 'GET', {});
        this.#base = `${scheme}://${this.host}`;
        break;
      } catch (e) {
        lastError = e;
      }
    }
    if (!ping) throw lastError;
    ping.body.resume();
    if (ping.status !== 401) return;
    const challenge = parseChallenge(ping.headers['www-authenticate']);
    if (challenge?.scheme === 'basic') {
      if (!this.#creds) throw new WardError('ERR_IMAGE_AUTH', `registry ${this.host} needs credentials`, { hint: 'pass --src-creds/--dest-creds USER or log in to write the auth file' });
      this.#auth = `Basic ${Buffer.from(`${this.#creds.username}:${this.#creds.password}`).toString('base64')}`;
    } else if (challenge?.scheme === 'bearer') {
      this.#auth = `Bearer ${await this.#token(challenge.params)}`;
    } else {
      throw new WardError('ERR_IMAGE_REGISTRY', `registry ${this.host} asks for an unsupported authentication scheme`);
    }
  }

  async #token(params: Record<string, string>): Promise<string> {
    const realm = params.realm;
    if (!realm) throw new WardError('ERR_IMAGE_REGISTRY', `registry ${this.host} sent a Bearer challenge without a realm`);
    const url = new URL(realm);
    if (url.protocol !== 'https:' && (url.protocol !== 'http:' || this.#tlsVerify)) {
      throw new WardError('ERR_IMAGE_INSECURE', `registry ${this.host} names a token realm that is not HTTPS`, { hint: 'use tls-verify=false only for a local test registry' });
    }
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.append('scope', `repository:${this.repo}:${this.#actions}`);
    const headers: OutgoingHttpHeaders = {};
    if (this.#creds) headers.authorization = `Basic ${Buffer.from(`${this.#creds.username}:${this.#creds.password}`).toString('base64')}`;
    const res = await this.#send(url, 'GET', headers);
    const text = await readAll(res.body, MAX_ERROR_BODY, 'token response');
    if (res.status === 401 || res.status === 403) throw new WardError('ERR_IMAGE_AUTH', `the token service for ${this.host} refused the credentials`);
    if (res.status !== 200) throw new WardError('ERR_IMAGE_REGISTRY', `the token service for ${this.host} answered ${res.status}`);
    let token: unknown;
    try {
      const j = JSON.parse(text.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = j.token ?? j.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || !token) throw new WardError('ERR_IMAGE_REGISTRY', `the token service for ${this.host} sent no token`);
    return token;
  }

  /** Resolves a Location header against the registry base. */
  url(pathOrLocation: string): URL {
    return new URL(pathOrLocation, this.#base);
  }

  /**
   * A request to this registry, authenticated; follows up to 5 redirects (dropping credentials
   * when the host changes).
   */
  async request(method: string, pathOrUrl: string | URL, opts: { headers?: OutgoingHttpHeaders; body?: Buffer | Chunks } = {}): Promise<Response> {
    this.#ready ??= this.#init();
    await this.#ready;
    let url = typeof pathOrUrl === 'string' ? this.url(pathOrUrl) : pathOrUrl;
    let refreshed = false;
    for (let hop = 0; hop < 6; hop++) {
      const sameHost = url.host === new URL(this.#base!).host;
      const headers: OutgoingHttpHeaders = { 'user-agent': 'ward', ...opts.headers };
      if (this.#auth && sameHost) headers.authorization = this.#auth;
      if (url.protocol === 'http:' && this.#tlsVerify) throw new WardError('ERR_IMAGE_INSECURE', `refusing to follow a redirect to plain HTTP (${url.host})`);
      const res = await this.#send(url, method, headers, opts.body);
      const challenge = res.status === 401 && sameHost ? parseChallenge(res.headers['www-authenticate']) : undefined;
      if (challenge?.scheme === 'bearer' && !refreshed && (opts.body === undefined || Buffer.isBuffer(opts.body))) {
        // The token expired during a long copy (or needs another scope): fetch a new one, once.
        res.body.resume();
        refreshed = true;
        this.#auth = `Bearer ${await this.#token(challenge.params)}`;
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(res.status) && res.headers.location && (method === 'GET' || method === 'HEAD')) {
        res.body.resume();
        url = new URL(res.headers.location, url);
        continue;
      }
      return res;
    }
    throw new WardError('ERR_IMAGE_REGISTRY', `too many redirects from ${this.host}`);
  }

  /** Turns an unexpected status into a WardError naming the registry's error code. */
  async fail(res: Response, what: string): Promise<never> {
    let detail = '';
    try {
      const j = JSON.parse((await readAll(res.body, MAX_ERROR_BODY, 'error body')).toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
      const e = j.errors?.[0];
      if (e) detail = `: ${e.code ?? ''}${e.message ? ` (${String(e.message).slice(0, 200)})` : ''}`;
    } catch {
      res.body.resume();
    }
    const message = `${what} on ${this.host}/${this.repo} failed with HTTP ${res.status}${detail}`;
    if (res.status === 401 || res.status === 403) throw new WardError('ERR_IMAGE_AUTH', message, { hint: 'check the credentials (--src-creds/--dest-creds or --authfile)' });
    if (res.status === 404) throw new WardError('ERR_IMAGE_NOT_FOUND', message);
    throw new WardError('ERR_IMAGE_REGISTRY', message);
  }
}
