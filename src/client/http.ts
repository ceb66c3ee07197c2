/**
 * The mutually authenticated JSON client for Ward's HTTP API (docs/api.md).
 *
 * - One `tls.createSecureContext` per identity, built once and shared by every connection
 *   (rebuilding it costs ~0.5 ms per connection, PERF-NOTES), on one keep-alive agent.
 * - TLS 1.3 only; the server's certificate is always verified against the deployment CA from the
 *   identity (there is no "insecure" switch). SNI is sent for host names only: an IP address is
 *   checked against the certificate's IP SANs instead (RFC 6066 forbids IP literals in SNI).
 * - Every request has a connect timeout and an overall timeout, and answers are size-bounded.
 * - Error answers `{error: {code, message}}` become a WardError with the same code, so the CLI
 *   exits exactly as the server decided; network and TLS failures become ERR_API_UNAVAILABLE or
 *   an ERR_TLS_* code.
 * - Several servers: a request goes to the last server that answered, and moves on to the next
 *   when a server is unreachable or answers 503. A request that may have been executed (a write
 *   whose connection broke after it was sent) is never replayed on another server.
 *
 * Kept light on purpose: `ward run` starts through this file, so it imports only node built-ins.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { ERROR_CODES, WardError, type WardErrorCode } from '../errors.ts';
import type { Identity } from './identity.ts';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface HttpClientOptions {
  /** Server base URLs, `https://HOST[:PORT][/PREFIX]`, tried in order. */
  servers: string[];
  identity: Identity;
  /** Default overall time limit of one request (per server tried). */
  timeoutMs?: number;
  /** Time limit for the TCP connection and TLS handshake. */
  connectTimeoutMs?: number;
  maxResponseBytes?: number;
  /** Sent as `user-agent`. */
  userAgent?: string;
}

export type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Overrides the client's overall timeout (long-polls need more). */
  timeoutMs?: number;
  /** Extra request headers (e.g. the end-to-end recipient of `ward run --e2e`). */
  headers?: Record<string, string>;
}

export interface ServerAddress {
  url: string;
  host: string;
  port: number;
  basePath: string;
  /** SNI name: the host name, or '' for an IP address. */
  servername: string;
}

/**
 * Parses a server URL. Only `https:` is accepted: Ward's API is mTLS only.
 * @throws WardError ERR_USAGE
 */
export function parseServerUrl(text: string): ServerAddress {
  const raw = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new WardError('ERR_USAGE', `invalid server URL ${JSON.stringify(text)}`, { hint: 'use https://HOST:PORT' });
  }
  if (u.protocol !== 'https:') {
    throw new WardError('ERR_USAGE', `server URL ${JSON.stringify(text)} must use https`, { hint: 'Ward only talks to its server over mutually authenticated TLS' });
  }
  if (u.username || u.password || u.search || u.hash) {
    throw new WardError('ERR_USAGE', `server URL ${JSON.stringify(text)} must not carry credentials, a query or a fragment`);
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? 443 : Number(u.port);
  const basePath = u.pathname.replace(/\/+$/, '');
  const url = `https://${u.host}${basePath}`;
  return { url, host, port, basePath, servername: isIP(host) === 0 ? host : '' };
}

const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ENOTFOUND',
  'EAI_AGAIN', 'EPIPE', 'ECONNABORTED', 'EADDRNOTAVAIL', 'ERR_SOCKET_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/** OpenSSL/Node codes meaning "the server's certificate does not verify against our CA or name". */
const SERVER_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_REVOKED', 'INVALID_CA', 'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

/** TLS alerts the server sends when it refuses our client certificate. */
const CLIENT_REJECTED = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/;

const REJECTED_HINT = 'the certificate may be revoked, expired, or issued by another deployment; get a new one with `ward cert issue` or `ward enroll`';

/**
 * A server that refuses a client certificate under TLS 1.3 (node:tls does) closes the connection
 * right after the handshake, which from this side looks like a reset of a brand-new connection
 * before any answer.
 */
function rejectedAfterHandshake(e: unknown, server: string): WardError {
  return new WardError('ERR_TLS_CLIENT_REJECTED', `${server} closed a new connection right after the TLS handshake without answering: it most likely refused the client certificate`, { cause: e, hint: REJECTED_HINT });
}

/** Turns a socket/TLS failure into the WardError a caller should see. */
export function classifyNetworkError(e: unknown, server: string): WardError {
  if (e instanceof WardError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (SERVER_UNTRUSTED.has(code)) {
    return new WardError('ERR_TLS_SERVER_UNTRUSTED', `the certificate of ${server} does not verify (${code})`, {
      cause: e,
      hint: 'check that ca.pem in the identity directory is the deployment CA and that the server URL names a host in the server certificate (ward init --san)',
    });
  }
  if (CLIENT_REJECTED.test(code)) {
    return new WardError('ERR_TLS_CLIENT_REJECTED', `${server} refused the client certificate (${code})`, {
      cause: e,
      hint: REJECTED_HINT,
    });
  }
  const message = e instanceof Error ? e.message : '';
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(message)?.[1]?.toUpperCase().replaceAll(' ', '_');
  if (alert && CLIENT_REJECTED.test(`ALERT_${alert}`)) {
    return new WardError('ERR_TLS_CLIENT_REJECTED', `${server} refused the client certificate (${alert.toLowerCase()})`, { cause: e, hint: REJECTED_HINT });
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return new WardError('ERR_TLS_HANDSHAKE', `TLS handshake with ${server} failed (${alert?.toLowerCase() ?? code})`, { cause: e, hint: 'the server must speak TLS 1.3' });
  }
  const detail = UNREACHABLE.has(code) ? code : code || (e instanceof Error ? e.message : 'connection failed');
  return new WardError('ERR_API_UNAVAILABLE', `cannot reach ${server} (${detail})`, {
    cause: e,
    hint: 'is `ward server` running there? set the address with --server, WARD_SERVER or [client] in ward.toml',
  });
}

/** A code the server may send that this client does not know maps to the closest one by status. */
function codeForStatus(status: number): WardErrorCode {
  switch (status) {
    case 400: return 'ERR_API_BAD_REQUEST';
    case 401: return 'ERR_API_UNAUTHENTICATED';
    case 403: return 'ERR_API_DENIED';
    case 404: return 'ERR_API_NOT_FOUND';
    case 409: return 'ERR_API_CONFLICT';
    case 413: return 'ERR_API_TOO_LARGE';
    case 429: return 'ERR_API_RATE_LIMITED';
    case 502: case 503: case 504: return 'ERR_API_UNAVAILABLE';
    default: return 'ERR_INTERNAL';
  }
}

/** Maps a non-2xx answer back to the WardError the server meant. */
export function errorFromResponse(status: number, body: Buffer, server: string): WardError {
  let code: unknown;
  let message: unknown;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    code = parsed?.error?.code;
    message = parsed?.error?.message;
  } catch {
    // not JSON: a proxy or something that is not Ward answered
  }
  const text = typeof message === 'string' && message.length > 0 ? message.slice(0, 500) : `HTTP ${status}`;
  if (typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)) return new WardError(code as WardErrorCode, text);
  const known = codeForStatus(status);
  const what = typeof code === 'string' ? `${code.slice(0, 64)}, ` : '';
  return new WardError(known, `${server} answered ${text} (${what}HTTP ${status})`);
}

interface RawResponse {
  status: number;
  body: Buffer;
  contentType: string;
}

/** An attempt's failure, with whether the request may have reached the application. */
class AttemptError extends Error {
  readonly error: WardError;
  readonly mayHaveRun: boolean;
  /** A kept-alive connection the server had already closed: worth one more try on a new one. */
  readonly staleConnection: boolean;
  constructor(error: WardError, mayHaveRun: boolean, staleConnection = false) {
    super(error.message);
    this.error = error;
    this.mayHaveRun = mayHaveRun;
    this.staleConnection = staleConnection;
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

export class WardHttpClient {
  readonly servers: readonly ServerAddress[];
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;
  /** Index of the server that answered last; requests start there. */
  private preferred = 0;
  /** Set by close(): a request it interrupts fails at once instead of trying again or moving on. */
  private closed = false;

  constructor(options: HttpClientOptions) {
    if (options.servers.length === 0) throw new TypeError('at least one server URL is required');
    this.servers = options.servers.map(parseServerUrl);
    const secureContext = createSecureContext({
      key: options.identity.key,
      cert: options.identity.cert,
      ca: options.identity.ca,
      minVersion: 'TLSv1.3',
    });
    this.agent = new Agent({ keepAlive: true, maxSockets: 16, secureContext, minVersion: 'TLSv1.3', rejectUnauthorized: true });
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.userAgent = options.userAgent ?? 'ward';
  }

  /**
   * Sends one JSON request and returns the parsed answer.
   * @throws WardError the server's own code for an error answer; ERR_API_UNAVAILABLE,
   *   ERR_TLS_SERVER_UNTRUSTED, ERR_TLS_CLIENT_REJECTED, ERR_TLS_HANDSHAKE when no server could be
   *   used; ERR_API_BAD_RESPONSE for an answer that is not JSON or too large
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.requestBytes(method, path, options);
    return parseJson<T>(res.body, res.server);
  }

  /**
   * Sends one request and returns the answer's bytes and content type unparsed (answers that are
   * not JSON, such as an end-to-end encrypted batch). Throws as {@link request}.
   */
  async requestBytes(method: string, path: string, options: RequestOptions = {}): Promise<{ body: Buffer; contentType: string; server: string }> {
    if (!path.startsWith('/')) throw new TypeError('path must start with /');
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const target = path + queryString(options.query);
    const failures: WardError[] = [];
    try {
      for (let i = 0; i < this.servers.length; i++) {
        const index = (this.preferred + i) % this.servers.length;
        const server = this.servers[index]!;
        let res: RawResponse;
        try {
          res = await this.attemptOnce(server, method, target, payload, options.timeoutMs ?? this.timeoutMs, options.headers);
        } catch (e) {
          const failure = e instanceof AttemptError ? e : new AttemptError(classifyNetworkError(e, server.url), true);
          failures.push(failure.error);
          if (failure.mayHaveRun && !IDEMPOTENT.has(method)) throw failure.error;
          if (this.closed) break;
          continue;
        }
        if (res.status === 503 && i < this.servers.length - 1) {
          failures.push(errorFromResponse(res.status, res.body, server.url));
          continue;
        }
        this.preferred = index;
        if (res.status < 200 || res.status > 299) throw errorFromResponse(res.status, res.body, server.url);
        return { body: res.body, contentType: res.contentType, server: server.url };
      }
    } finally {
      payload?.fill(0);
    }
    throw pickFailure(failures, this.servers);
  }

  /** Closes idle keep-alive connections; the client cannot be used afterwards. */
  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  /** One server; a read that met a kept-alive connection the server had just closed is sent once more. */
  private async attemptOnce(
    server: ServerAddress, method: string, target: string, payload: Buffer | undefined, timeoutMs: number, extra: Record<string, string> | undefined,
  ): Promise<RawResponse> {
    try {
      return await this.attempt(server, method, target, payload, timeoutMs, extra);
    } catch (e) {
      if (e instanceof AttemptError && e.staleConnection && IDEMPOTENT.has(method) && !this.closed) return this.attempt(server, method, target, payload, timeoutMs, extra);
      throw e;
    }
  }

  private attempt(
    server: ServerAddress, method: string, target: string, payload: Buffer | undefined, timeoutMs: number, extra: Record<string, string> | undefined,
  ): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      let connected = false;
      let freshHandshake = false;
      let answered = false;
      let settled = false;
      const headers: Record<string, string | number> = { accept: 'application/json', ...extra, 'user-agent': this.userAgent };
      if (payload) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      const req = httpsRequest({
        agent: this.agent,
        host: server.host,
        port: server.port,
        servername: server.servername,
        method,
        path: server.basePath + target,
        headers,
      });
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(overall);
        clearTimeout(connectTimer);
        if (e instanceof AttemptError) return reject(e);
        const code = (e as NodeJS.ErrnoException).code;
        const reset = code === 'ECONNRESET' || code === 'EPIPE';
        const error = reset && freshHandshake && !answered ? rejectedAfterHandshake(e, server.url) : classifyNetworkError(e, server.url);
        reject(new AttemptError(error, connected, reset && req.reusedSocket && !answered));
      };
      const timeoutError = (what: string) => Object.assign(new Error(`${what} timed out`), { code: 'ETIMEDOUT' });
      const overall = setTimeout(() => req.destroy(timeoutError('request')), timeoutMs);
      const connectTimer = setTimeout(() => {
        if (!connected) req.destroy(timeoutError('connection'));
      }, Math.min(this.connectTimeoutMs, timeoutMs));
      req.on('socket', (socket) => {
        const tls = socket as TLSSocket;
        const onConnect = () => {
          connected = true;
          clearTimeout(connectTimer);
        };
        // a kept-alive socket has finished its handshake already
        if (tls.authorized) onConnect();
        else {
          tls.once('secureConnect', () => {
            freshHandshake = true;
            onConnect();
          });
        }
      });
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        answered = true;
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > this.maxResponseBytes) {
          fail(new AttemptError(tooLarge(server.url, this.maxResponseBytes), true));
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            fail(new AttemptError(tooLarge(server.url, this.maxResponseBytes), true));
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('aborted', () => fail(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(overall);
          clearTimeout(connectTimer);
          resolve({ status, body: Buffer.concat(chunks), contentType: String(res.headers['content-type'] ?? '') });
        });
      });
      req.end(payload);
    });
  }
}

function tooLarge(server: string, max: number): WardError {
  return new WardError('ERR_API_BAD_RESPONSE', `answer from ${server} is larger than ${max} bytes`);
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

function parseJson<T>(body: Buffer, server: string): T {
  if (body.length === 0) return undefined as T;
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (e) {
    throw new WardError('ERR_API_BAD_RESPONSE', `answer from ${server} is not JSON`, { cause: e, hint: 'is the URL that of a Ward server?' });
  }
}

/** The error to report when every server failed: the most specific one, naming all tried. */
function pickFailure(failures: WardError[], servers: readonly ServerAddress[]): WardError {
  const specific = failures.find((f) => f.code !== 'ERR_API_UNAVAILABLE') ?? failures[failures.length - 1]!;
  if (servers.length === 1) return specific;
  return new WardError(specific.code, `${specific.message}; no server answered (tried ${servers.map((s) => s.url).join(', ')})`, {
    cause: specific,
    hint: specific.hint,
  });
}
