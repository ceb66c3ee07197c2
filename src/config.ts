/**
 * `ward.toml`: a deployment's configuration, as written by `ward init` and read by `ward server`
 * and by operator commands run inside the deployment.
 *
 * Schema (every key optional; defaults are the layout `ward init` creates):
 *
 *   [server]
 *   listen        = "127.0.0.1:8443"      mTLS API; HOST:PORT, IPv6 as "[::1]:8443"
 *   health_listen = "127.0.0.1:8080"      plain-HTTP health endpoints; "" turns them off
 *   enroll_listen = ""                    enrolment listener (no client certificate, docs/enrol.md); off when ""
 *   enroll_rate   = 10                    enrolment requests per minute (and at once) per source address
 *   trust_domain  = "ward.local"          must match the CA (spiffe://<trust_domain>)
 *   allow_sources = ["10.0.0.0/8"]        server-wide client address allow list (CIDR or IP); [] = all
 *   deny_sources  = []                    server-wide deny list; wins over allow_sources
 *   import_dir    = ""                    directory of config files sealed to the server, loaded at
 *                                         start and on change (docs/sealed.md); off when ""
 *   [server.tls]
 *   cert = "server/server.crt"   key = "server/server.key"   client_ca = "ca/ca.crt"
 *   [ca]
 *   cert = "ca/ca.crt"           key = "ca/ca.key"   (key = "" keeps the CA key offline: no issuing)
 *   [storage]
 *   driver = "sqlite"   path = "data/ward.db"     |   driver = "postgres"   url = "postgres://..."
 *   [keys]
 *   provider = "file"   path = "master.key"           32 raw bytes, mode 0600
 *   provider = "passphrase" | "shamir"   path = "master.sealed"   sealed key file (docs/keys.md)
 *   provider = "pkcs11"   module = "/usr/lib/softhsm/libsofthsm2.so"   token = "ward"
 *              label = "ward-master"   pin_file = "pkcs11.pin"   (else $WARD_PKCS11_PIN)
 *   (no [audit] table: the hash-chained audit log lives in the store and has no settings)
 *   [pki]
 *   workload_ttl = "24h"                  lifetime of enrolled and renewed workload certificates
 *   [client]
 *   server   = "https://localhost:8443"   or a list, tried in order (failover)
 *   identity = "admin"                     identity directory (key.pem, cert.pem, ca.pem)
 *
 * Parsing is strict: unknown tables or keys, wrong types and bad values are ERR_CONFIG errors that
 * name the key. Relative paths are resolved against the directory holding the file.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { WardError } from './errors.ts';
import { checkTrustDomain } from './pki/spiffe.ts';

/** The file name `ward init` writes and operator commands look for. */
export const CONFIG_FILE = 'ward.toml';

/** Upper bound on the size of a ward.toml. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ListenAddress {
  host: string;
  port: number;
}

export type StorageConfig = { driver: 'sqlite'; path: string } | { driver: 'postgres'; url: string };

export interface WardConfig {
  /** Absolute path of the file read. */
  path: string;
  /** Absolute directory holding it; relative paths were resolved against it. */
  dir: string;
  server: {
    listen: ListenAddress;
    /** Undefined when turned off (`health_listen = ""`). */
    healthListen: ListenAddress | undefined;
    /** The enrolment listener; undefined (off) unless configured. */
    enrollListen: ListenAddress | undefined;
    /** Requests a minute (and burst) per source address on the enrolment listener. */
    enrollRate: number;
    trustDomain: string;
    allowSources: string[];
    denySources: string[];
    /** Absolute directory of sealed config files to import (docs/sealed.md); undefined: off. */
    importDir: string | undefined;
    tls: { cert: string; key: string; clientCa: string };
  };
  /** `key` is undefined when the CA key is kept offline (`key = ""`). */
  ca: { cert: string; key: string | undefined };
  storage: StorageConfig;
  keys: KeysConfig;
  pki: { workloadTtlMs: number };
  /** `servers` are origins (`https://host:port`); `identity` an absolute identity directory. */
  client: { servers: string[]; identity: string };
}

export const KEY_PROVIDERS = ['file', 'passphrase', 'shamir', 'pkcs11'] as const;

/** `[keys]`: which master-key provider (src/keys/index.ts opens it). */
export interface KeysConfig {
  provider: (typeof KEY_PROVIDERS)[number];
  /** `file`: the raw key; `passphrase`, `shamir`: the sealed key file. Not used by `pkcs11`. */
  path: string;
  /** Present exactly when provider = "pkcs11". `pinFile` undefined: the PIN is in $WARD_PKCS11_PIN. */
  pkcs11?: { module: string; token: string; label: string; pinFile: string | undefined };
  /**
   * Former master keys (`file` keys) that still open what was wrapped before a master key
   * rotation, until `ward key rotate` has moved everything under the current one (docs/keys.md).
   */
  previous: string[];
}

/** Default values, shared by the parser and the template `ward init` writes. */
export const DEFAULTS = {
  listen: '127.0.0.1:8443',
  healthListen: '127.0.0.1:8080',
  trustDomain: 'ward.local',
  serverCert: 'server/server.crt',
  serverKey: 'server/server.key',
  caCert: 'ca/ca.crt',
  caKey: 'ca/ca.key',
  sqlitePath: 'data/ward.db',
  masterKey: 'master.key',
  sealedKey: 'master.sealed',
  pkcs11Label: 'ward-master',
  clientServer: 'https://localhost:8443',
  adminIdentity: 'admin',
} as const;

function bad(key: string, message: string, file: string): WardError {
  return new WardError('ERR_CONFIG', `${file}: ${key}: ${message}`, { hint: 'see the comments in the ward.toml that ward init writes' });
}

type Table = Record<string, unknown>;

/** Reads the keys of one table, refusing unknown ones and wrong types. */
class Section {
  readonly name: string;
  readonly table: Table;
  readonly file: string;

  constructor(name: string, value: unknown, file: string, allowed: string[]) {
    this.name = name;
    this.file = file;
    if (value === undefined) value = {};
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
      throw bad(name, 'must be a table', file);
    }
    this.table = value as Table;
    for (const k of Object.keys(this.table)) {
      if (!allowed.includes(k)) throw bad(this.key(k), `unknown key (expected one of: ${allowed.join(', ')})`, file);
    }
  }

  key(k: string): string {
    return this.name ? `${this.name}.${k}` : k;
  }

  string(k: string, fallback: string): string {
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (typeof v !== 'string') throw bad(this.key(k), 'must be a string', this.file);
    return v;
  }

  strings(k: string, fallback: string[]): string[] {
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(this.key(k), 'must be a string or a list of strings', this.file);
    return v as string[];
  }

  sub(k: string, allowed: string[]): Section {
    return new Section(this.key(k), this.table[k], this.file, allowed);
  }
}

/**
 * Parses a listen address `HOST:PORT` (`[V6]:PORT` for IPv6; port 0 picks a free port).
 * @throws WardError ERR_CONFIG naming `key`
 */
export function parseListen(text: string, key: string, file = 'ward.toml'): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^[\]:]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || port > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) {
    throw bad(key, `invalid address ${JSON.stringify(text)} (expected HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443)`, file);
  }
  return { host, port };
}

function checkCidr(text: string, key: string, file: string): string {
  const [ip, prefix, extra] = text.split('/');
  const family = isIP(ip ?? '');
  const max = family === 6 ? 128 : 32;
  if (!family || extra !== undefined || (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max))) {
    throw bad(key, `invalid address or CIDR range ${JSON.stringify(text)}`, file);
  }
  return text;
}

function checkServerUrl(text: string, key: string, file: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(key, `invalid URL ${JSON.stringify(text)}`, file);
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw bad(key, `${JSON.stringify(text)} must be https://HOST[:PORT] (Ward speaks only mutual TLS)`, file);
  }
  return url.origin;
}

/**
 * Parses ward.toml text. `path` names the file in errors and anchors relative paths.
 * @throws WardError ERR_CONFIG
 */
export function parseConfig(text: string, path: string): WardConfig {
  const file = resolve(path);
  const dir = dirname(file);
  const at = (p: string) => resolve(dir, p);
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (e) {
    const where = e instanceof TomlError ? `:${e.line}:${e.column}` : '';
    const what = e instanceof Error ? e.message.split('\n')[0]!.toLowerCase() : 'invalid TOML';
    throw new WardError('ERR_CONFIG', `${file}${where}: ${what}`, { cause: e });
  }
  const root = new Section('', doc, file, ['server', 'ca', 'storage', 'keys', 'client', 'pki']);

  const server = root.sub('server', ['listen', 'health_listen', 'enroll_listen', 'enroll_rate', 'trust_domain', 'allow_sources', 'deny_sources', 'import_dir', 'tls']);
  const tls = server.sub('tls', ['cert', 'key', 'client_ca']);
  const trustDomain = server.string('trust_domain', DEFAULTS.trustDomain);
  try {
    checkTrustDomain(trustDomain);
  } catch {
    throw bad('server.trust_domain', `invalid trust domain ${JSON.stringify(trustDomain)} (lowercase letters, digits, ".", "_", "-")`, file);
  }
  const health = server.string('health_listen', DEFAULTS.healthListen);
  const enroll = server.string('enroll_listen', '');
  const importDir = server.string('import_dir', '');
  const enrollRate = server.table.enroll_rate ?? 10;
  if (typeof enrollRate !== 'number' || !Number.isInteger(enrollRate) || enrollRate < 1 || enrollRate > 100_000) throw bad('server.enroll_rate', 'must be an integer from 1 to 100000 (requests a minute per source)', file);
  const workloadTtl = root.sub('pki', ['workload_ttl']).string('workload_ttl', '24h');
  const workloadTtlMs = parseTtlText(workloadTtl);
  if (workloadTtlMs === undefined || workloadTtlMs < 60_000) throw bad('pki.workload_ttl', `invalid lifetime ${JSON.stringify(workloadTtl)} (at least 1m, e.g. 24h)`, file);

  const ca = root.sub('ca', ['cert', 'key']);
  const caKey = ca.string('key', DEFAULTS.caKey);

  const storage = root.sub('storage', ['driver', 'path', 'url']);
  const driver = storage.string('driver', 'sqlite');
  let storageConfig: StorageConfig;
  if (driver === 'sqlite') {
    if (storage.table.url !== undefined) throw bad('storage.url', 'applies only to driver = "postgres"', file);
    storageConfig = { driver, path: at(storage.string('path', DEFAULTS.sqlitePath)) };
  } else if (driver === 'postgres') {
    if (storage.table.path !== undefined) throw bad('storage.path', 'applies only to driver = "sqlite"', file);
    const url = storage.string('url', '');
    if (!/^postgres(ql)?:\/\//.test(url)) throw bad('storage.url', 'must be a postgres:// or postgresql:// URL', file);
    storageConfig = { driver, url };
  } else {
    throw bad('storage.driver', `unknown driver ${JSON.stringify(driver)} (expected "sqlite" or "postgres")`, file);
  }

  const keys = root.sub('keys', ['provider', 'path', 'module', 'token', 'label', 'pin_file', 'previous']);
  const provider = keys.string('provider', 'file') as KeysConfig['provider'];
  if (!KEY_PROVIDERS.includes(provider)) throw bad('keys.provider', `unknown provider ${JSON.stringify(provider)} (expected one of: ${KEY_PROVIDERS.join(', ')})`, file);
  const keysConfig: KeysConfig = {
    provider,
    path: at(keys.string('path', provider === 'file' ? DEFAULTS.masterKey : DEFAULTS.sealedKey)),
    previous: keys.strings('previous', []).map(at),
  };
  if (provider === 'pkcs11') {
    const module = keys.string('module', '');
    const token = keys.string('token', '');
    if (module === '') throw bad('keys.module', 'the pkcs11 provider needs the path of the PKCS#11 module', file);
    if (token === '') throw bad('keys.token', 'the pkcs11 provider needs the label of the token', file);
    const pinFile = keys.string('pin_file', '');
    keysConfig.pkcs11 = { module, token, label: keys.string('label', DEFAULTS.pkcs11Label), pinFile: pinFile === '' ? undefined : at(pinFile) };
  } else {
    for (const k of ['module', 'token', 'label', 'pin_file']) if (keys.table[k] !== undefined) throw bad(`keys.${k}`, 'applies only to provider = "pkcs11"', file);
  }

  const client = root.sub('client', ['server', 'identity']);
  const servers = client.strings('server', [DEFAULTS.clientServer]).map((s) => checkServerUrl(s, 'client.server', file));
  if (servers.length === 0) throw bad('client.server', 'needs at least one URL', file);

  return {
    path: file,
    dir,
    server: {
      listen: parseListen(server.string('listen', DEFAULTS.listen), 'server.listen', file),
      healthListen: health === '' ? undefined : parseListen(health, 'server.health_listen', file),
      enrollListen: enroll === '' ? undefined : parseListen(enroll, 'server.enroll_listen', file),
      enrollRate,
      trustDomain,
      allowSources: server.strings('allow_sources', []).map((s) => checkCidr(s, 'server.allow_sources', file)),
      denySources: server.strings('deny_sources', []).map((s) => checkCidr(s, 'server.deny_sources', file)),
      importDir: importDir === '' ? undefined : at(importDir),
      tls: {
        cert: at(tls.string('cert', DEFAULTS.serverCert)),
        key: at(tls.string('key', DEFAULTS.serverKey)),
        clientCa: at(tls.string('client_ca', DEFAULTS.caCert)),
      },
    },
    ca: { cert: at(ca.string('cert', DEFAULTS.caCert)), key: caKey === '' ? undefined : at(caKey) },
    storage: storageConfig,
    keys: keysConfig,
    pki: { workloadTtlMs },
    client: { servers, identity: at(client.string('identity', DEFAULTS.adminIdentity)) },
  };
}

/** `90s`, `15m`, `24h`, `30d`, `1h30m` in milliseconds; undefined when malformed. */
function parseTtlText(text: string): number | undefined {
  const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  if (!/^(\d{1,6}[smhd])+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

/**
 * Reads and parses a ward.toml (or the ward.toml inside a directory).
 * @throws WardError ERR_CONFIG (missing, too large, or invalid), ERR_IO
 */
export function loadConfig(path: string): WardConfig {
  let file = path;
  try {
    if (statSync(file).isDirectory()) file = join(file, CONFIG_FILE);
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES) throw new WardError('ERR_CONFIG', `${file} is larger than ${MAX_CONFIG_BYTES} bytes`);
    return parseConfig(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (e instanceof WardError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new WardError('ERR_CONFIG', `no configuration at ${file}`, { hint: 'create a deployment with ward init, or pass --config DIR/ward.toml' });
    }
    throw new WardError('ERR_IO', `cannot read ${file}: ${code ?? 'error'}`, { cause: e });
  }
}

/**
 * Finds the deployment an operator command runs in: `$WARD_CONFIG` if set, else the first
 * ward.toml in `start` or one of its parents (as git finds .git). Undefined when there is none.
 */
export function findConfig(start = process.cwd(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.WARD_CONFIG) return resolve(env.WARD_CONFIG);
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, CONFIG_FILE);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; look further up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The commented ward.toml `ward init` writes (parses to the defaults apart from trust_domain). */
/** The `[keys]` section `ward init` writes (docs/keys.md). */
export type RenderKeys =
  | { provider: 'file' | 'passphrase' | 'shamir' }
  | { provider: 'pkcs11'; module: string; token: string; label: string; pinFile: string | undefined };

function renderKeys(keys: RenderKeys): string {
  const q = (s: string) => JSON.stringify(s);
  switch (keys.provider) {
    case 'file':
      return `# The master key wrapping every key encryption key: 32 random bytes, mode 0600. Back it up apart
# from the database; without it the stored secrets cannot be decrypted.
provider = "file"
path = ${q(DEFAULTS.masterKey)}`;
    case 'passphrase':
      return `# The master key, sealed under scrypt from a passphrase (docs/keys.md). The server starts sealed:
# unseal it with ward operator unseal, or ward server --unseal-file FILE. Back the file up; without
# it and the passphrase the stored secrets cannot be decrypted.
provider = "passphrase"
path = ${q(DEFAULTS.sealedKey)}`;
    case 'shamir':
      return `# The master key, sealed under a key split into shares (docs/keys.md). The server starts sealed:
# enough operators each run ward operator unseal with their share. Back the file up.
provider = "shamir"
path = ${q(DEFAULTS.sealedKey)}`;
    case 'pkcs11':
      return `# The master key is a non-extractable AES-256 key inside a PKCS#11 token (docs/keys.md).
provider = "pkcs11"
module = ${q(keys.module)}
token = ${q(keys.token)}
label = ${q(keys.label)}
${keys.pinFile === undefined ? `# the user PIN comes from $WARD_PKCS11_PIN; or set pin_file = "FILE" (mode 0600)` : `pin_file = ${q(keys.pinFile)}`}`;
  }
}

export function renderConfig(options: { trustDomain: string; listen?: string; clientServer?: string; keys?: RenderKeys }): string {
  const listen = options.listen ?? DEFAULTS.listen;
  const clientServer = options.clientServer ?? DEFAULTS.clientServer;
  const q = (s: string) => JSON.stringify(s);
  return `# Ward deployment configuration, written by \`ward init\`.
# Start the server with:  npx ward server --config ${CONFIG_FILE}
# Relative paths below are resolved against the directory holding this file.

[server]
# The API: TLS 1.3 only, a client certificate issued by this deployment's CA on every connection.
# HOST:PORT; IPv6 as "[::1]:8443"; "0.0.0.0:8443" listens on every interface.
listen = ${q(listen)}
# Plain-HTTP liveness/readiness endpoints (no secrets, no client certificate). "" turns them off.
health_listen = ${q(DEFAULTS.healthListen)}
# The SPIFFE trust domain: identities are spiffe://<trust_domain>/app/APP/env/ENV/INSTANCE
# and spiffe://<trust_domain>/admin/NAME. Must match the CA certificate.
trust_domain = ${q(options.trustDomain)}
# Server-wide client address lists (IP or CIDR). Empty allow list = every address; deny wins.
allow_sources = []
deny_sources = []

[server.tls]
cert = ${q(DEFAULTS.serverCert)}
key = ${q(DEFAULTS.serverKey)}
# Client certificates must chain to this CA.
client_ca = ${q(DEFAULTS.caCert)}

[ca]
# The deployment CA, used to issue workload and admin certificates (ward cert issue, ward enroll).
# key = "" keeps the CA key offline: the server then cannot issue certificates.
cert = ${q(DEFAULTS.caCert)}
key = ${q(DEFAULTS.caKey)}

[storage]
# driver = "sqlite": one file, WAL, crash-safe. For several server replicas use PostgreSQL:
#   driver = "postgres"
#   url = "postgres://ward@db.example.com/ward"   # put the password in PGPASSWORD, not here
driver = "sqlite"
path = ${q(DEFAULTS.sqlitePath)}

[keys]
${renderKeys(options.keys ?? { provider: 'file' })}

# Audit: every access, granted or denied, is recorded in the store's append-only, hash-chained
# audit log (ward audit tail, ward audit verify); a read fails if its record cannot be written.
# It needs no settings here.

[client]
# Used by operator commands (ward secret, ward cert, ...) run inside this directory.
# One URL or a list tried in order; --server and WARD_SERVER override it.
server = ${q(clientServer)}
# The identity directory (key.pem, cert.pem, ca.pem); --identity and WARD_IDENTITY override it.
identity = ${q(DEFAULTS.adminIdentity)}
`;
}
