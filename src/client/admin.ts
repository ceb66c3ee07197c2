/**
 * Typed calls for every route of Ward's v1 HTTP API (docs/api.md), over {@link WardHttpClient}.
 * Secret values travel base64-encoded and are handed to callers as Buffers.
 */
import { WardError } from '../errors.ts';
import type { WardHttpClient } from './http.ts';

export interface SecretPath {
  app: string;
  env: string;
  name: string;
}

export type SecretKind = 'env' | 'file';
/** Times are what the server sends: milliseconds since the epoch or ISO text. */
export type Time = number | string;

export interface SecretValue extends SecretPath {
  version: number;
  kind: SecretKind;
  sealed: boolean;
  createdAt: Time;
  value: Buffer;
}

export interface EnvBatch {
  app: string;
  env: string;
  revision: number | string;
  secrets: { name: string; version: number; kind: SecretKind; sealed: boolean; value: Buffer }[];
}

export interface SecretListItem extends SecretPath {
  currentVersion: number;
  kind: SecretKind;
  sealed: boolean;
  createdAt: Time;
  updatedAt: Time;
  deletedAt: Time | null;
}

export interface SecretVersionInfo {
  version: number;
  createdAt: Time;
  createdBy: string;
  kind: SecretKind;
  sealed: boolean;
  destroyedAt: Time | null;
}

export interface PolicyInfo {
  name: string;
  /** The policy JSON (the server may send it parsed or as text). */
  document: unknown;
  updatedAt: Time;
  updatedBy: string;
}

export type Operation = 'read' | 'write' | 'list' | 'admin';

export interface Explanation {
  decision: 'allow' | 'deny';
  rule: unknown;
  reason: string;
}

export interface CertificateRecord {
  serial: string;
  name: string;
  spiffeId: string;
  app?: string;
  env?: string;
  role: string;
  notBefore?: Time;
  notAfter: Time;
  fingerprint?: string;
  issuedAt?: Time;
  revokedAt?: Time | null;
}

export interface IssuedCertificate {
  certificate: string;
  ca: string;
  serial: string;
  spiffeId: string;
  notAfter: Time;
}

export interface AuditRecord {
  seq: number;
  time: Time;
  identity: string;
  serial?: string;
  source?: string;
  operation: string;
  path: string;
  outcome: string;
  [field: string]: unknown;
}

export interface AuditVerification {
  ok: boolean;
  count: number;
  firstBad?: number;
  reason?: string;
}

export interface WhoAmI {
  spiffeId: string;
  role: string;
  app?: string;
  env?: string;
  serial: string;
}

export interface RecipientInfo {
  id: string;
  kind: 'age' | 'pgp';
  key: string;
  createdAt: Time;
  createdBy: string;
}

export interface ImportResult {
  written: number;
  unchanged: number;
  envs: string[];
}

const seg = encodeURIComponent;

function secretUrl(p: SecretPath, suffix = ''): string {
  return `/v1/secrets/${seg(p.app)}/${seg(p.env)}/${seg(p.name)}${suffix}`;
}

function decodeValue(value: unknown): Buffer {
  if (typeof value !== 'string') throw new WardError('ERR_API_BAD_RESPONSE', 'the server sent a secret without a value');
  return Buffer.from(value, 'base64');
}

export class WardAdminClient {
  readonly http: WardHttpClient;

  constructor(http: WardHttpClient) {
    this.http = http;
  }

  /** @throws WardError ERR_API_DENIED also when the secret does not exist (existence does not leak) */
  async getSecret(p: SecretPath, version?: number): Promise<SecretValue> {
    const r = await this.http.request<Omit<SecretValue, 'value'> & { value: string }>('GET', secretUrl(p), { query: { version } });
    return { ...r, value: decodeValue(r.value) };
  }

  async putSecret(p: SecretPath, value: Buffer, options: { cas?: number; kind?: SecretKind; sealed?: boolean } = {}): Promise<{ version: number }> {
    const body = { value: value.toString('base64'), cas: options.cas, kind: options.kind, sealed: options.sealed };
    return this.http.request('PUT', secretUrl(p), { body });
  }

  /** One page of the listing; `next` is null on the last page. */
  listSecretsPage(q: { app?: string; env?: string; cursor?: string | null; limit?: number; deleted?: boolean }): Promise<{ items: SecretListItem[]; next: string | null }> {
    return this.http.request('GET', '/v1/secrets', {
      query: { app: q.app, env: q.env, cursor: q.cursor, limit: q.limit, deleted: q.deleted ? 'true' : undefined },
    });
  }

  /** Every page of the listing. */
  async *listSecrets(q: { app?: string; env?: string; deleted?: boolean; limit?: number } = {}): AsyncGenerator<SecretListItem> {
    let cursor: string | null = null;
    do {
      const page = await this.listSecretsPage({ ...q, cursor });
      yield* page.items;
      cursor = page.next ?? null;
    } while (cursor);
  }

  async history(p: SecretPath): Promise<SecretVersionInfo[]> {
    return (await this.http.request<{ versions: SecretVersionInfo[] }>('GET', secretUrl(p, '/history'))).versions;
  }

  deleteSecret(p: SecretPath): Promise<{ deleted: true }> {
    return this.http.request('DELETE', secretUrl(p));
  }

  undeleteSecret(p: SecretPath): Promise<{ undeleted: true }> {
    return this.http.request('POST', secretUrl(p, '/undelete'), { body: {} });
  }

  /** Erases the values of the given versions (all when omitted); metadata stays. */
  destroySecret(p: SecretPath, versions?: number[]): Promise<{ destroyed: number }> {
    return this.http.request('POST', secretUrl(p, '/destroy'), { body: versions ? { versions } : {} });
  }

  /** Writes a new version holding the value of `version`. */
  rollback(p: SecretPath, version: number): Promise<{ version: number }> {
    return this.http.request('POST', secretUrl(p, '/rollback'), { body: { version } });
  }

  /** What `ward run` fetches: every secret of APP/ENV the caller may read. */
  async getEnv(app: string, env: string): Promise<EnvBatch> {
    const r = await this.http.request<Omit<EnvBatch, 'secrets'> & { secrets: (Omit<EnvBatch['secrets'][number], 'value'> & { value: string })[] }>(
      'GET', `/v1/env/${seg(app)}/${seg(env)}`,
    );
    return { ...r, secrets: r.secrets.map((s) => ({ ...s, value: decodeValue(s.value) })) };
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    return (await this.http.request<{ policies: PolicyInfo[] }>('GET', '/v1/policies')).policies;
  }

  putPolicy(name: string, document: unknown): Promise<{ name: string }> {
    return this.http.request('PUT', `/v1/policies/${seg(name)}`, { body: { document } });
  }

  deletePolicy(name: string): Promise<{ deleted: true }> {
    return this.http.request('DELETE', `/v1/policies/${seg(name)}`);
  }

  explain(q: { spiffeId: string; path: string; operation: Operation; source?: string }): Promise<Explanation> {
    return this.http.request('POST', '/v1/policies/explain', { body: q });
  }

  /** Asks the CA to sign `csr` (PEM); the private key never leaves the caller. `ttl` in seconds. */
  issueCertificate(q: { name: string; app?: string; env?: string; role: 'workload' | 'admin'; ttl?: number; csr: string }): Promise<IssuedCertificate> {
    return this.http.request('POST', '/v1/certs', { body: q });
  }

  /** One page of certificate records in issue order; `next` is null on the last page. */
  listCertificatesPage(q: { cursor?: string | null; limit?: number } = {}): Promise<{ certificates: CertificateRecord[]; next: string | null }> {
    return this.http.request('GET', '/v1/certs', { query: { cursor: q.cursor, limit: q.limit } });
  }

  /** Every certificate record, page by page. */
  async *listCertificates(q: { limit?: number } = {}): AsyncGenerator<CertificateRecord> {
    let cursor: string | null = null;
    do {
      const page = await this.listCertificatesPage({ ...q, cursor });
      yield* page.certificates;
      cursor = page.next ?? null;
    } while (cursor);
  }

  async revokeCertificate(serialOrName: string): Promise<CertificateRecord> {
    return (await this.http.request<{ revoked: CertificateRecord }>('POST', `/v1/certs/${seg(serialOrName)}/revoke`, { body: {} })).revoked;
  }

  /** Records with seq > after; with `waitSeconds`, the server holds the request until one exists (long-poll, at most 30 s). */
  async readAudit(q: { after?: number; limit?: number; waitSeconds?: number } = {}): Promise<AuditRecord[]> {
    const timeoutMs = q.waitSeconds ? (q.waitSeconds + 15) * 1000 : undefined;
    const r = await this.http.request<{ records: AuditRecord[] }>('GET', '/v1/audit', {
      query: { after: q.after, limit: q.limit, wait: q.waitSeconds },
      ...(timeoutMs ? { timeoutMs } : {}),
    });
    return r.records;
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.http.request('GET', '/v1/audit/verify', { timeoutMs: 10 * 60_000 });
  }

  /** The recipients sealed secrets of APP/ENV are encrypted to (`ward recipients ls`, `ward seal`). */
  async listRecipients(app: string, env: string): Promise<RecipientInfo[]> {
    return (await this.http.request<{ recipients: RecipientInfo[] }>('GET', `/v1/recipients/${seg(app)}/${seg(env)}`)).recipients;
  }

  /** Registers `recipient` (an age1… string or an armored OpenPGP public key); the server validates it. */
  addRecipient(app: string, env: string, recipient: string): Promise<{ id: string; kind: string; added: boolean }> {
    return this.http.request('PUT', `/v1/recipients/${seg(app)}/${seg(env)}`, { body: { recipient } });
  }

  removeRecipient(app: string, env: string, id: string): Promise<{ removed: true }> {
    return this.http.request('DELETE', `/v1/recipients/${seg(app)}/${seg(env)}`, { body: { id } });
  }

  /** The server's own age recipient, for config encrypted to it (`ward secret import`). */
  async serverRecipient(): Promise<string> {
    return (await this.http.request<{ recipient: string }>('GET', '/v1/server/recipient')).recipient;
  }

  /** Sends a config file encrypted to the server's recipient; the server stores its values. */
  async importFile(q: { format: 'env' | 'toml' | 'yaml' | 'json'; content: string; app?: string; env?: string }): Promise<ImportResult> {
    return (await this.http.request<{ imported: ImportResult }>('POST', '/v1/import', { body: q, timeoutMs: 120_000 })).imported;
  }

  whoami(): Promise<WhoAmI> {
    return this.http.request('GET', '/v1/whoami');
  }

  close(): void {
    this.http.close();
  }
}
