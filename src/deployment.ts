/**
 * `ward init`: creates a deployment directory.
 *
 *   DIR/                 0700
 *     ward.toml          the configuration (src/config.ts), paths relative to DIR
 *     master.key         0600  32 random bytes: the master key of the `file` key provider (default)
 *     master.sealed      0600  instead, with --passphrase or --shares: the sealed master key
 *                              (`passphrase`, `shamir`; docs/keys.md); with `pkcs11` the key is
 *                              made in the token and nothing is written here
 *     ca/ca.crt          the deployment CA (ECDSA P-256, name-constrained to the trust domain)
 *     ca/ca.key          0600  its private key
 *     server/server.crt  the server certificate (serverAuth; DNS/IP names from --san)
 *     server/server.key  0600
 *     admin/             an identity directory (src/pki/identity-dir.ts): key.pem 0600, cert.pem,
 *                        ca.pem; spiffe://<td>/admin/admin, used by operator commands run in DIR
 *     data/              0700  the SQLite database goes here
 *
 * Everything is built in a temporary directory beside DIR and renamed into place at the end, so
 * a failure leaves either no deployment or a whole one. An existing DIR is refused unless it is
 * an empty directory.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { CONFIG_FILE, DEFAULTS, loadConfig, renderConfig, type WardConfig } from './config.ts';
import { WardError } from './errors.ts';
import { createFileKey } from './keys/file.ts';
import type { RenderKeys } from './config.ts';
import {
  caTrustDomain as caTrustDomainOf, createCA, generateKeyPair, issueCertificate, loadCA, parseCertificate, parsePrivateKey, writeFileAtomic, writeIdentityDir,
  type CertificateAuthority,
} from './pki/index.ts';
import { checkTrustDomain } from './pki/spiffe.ts';

/** Names the server certificate always carries, so operator commands in DIR reach it. */
export const DEFAULT_SANS = ['localhost', '127.0.0.1', '::1'] as const;

/** Lifetime of the certificates `ward init` issues (server and first admin): 1 year. */
export const INIT_CERT_TTL_MS = 365 * 24 * 3_600_000;

/** Name of the first admin identity (`spiffe://<td>/admin/admin`). */
export const INIT_ADMIN_NAME = 'admin';

export interface InitOptions {
  dir: string;
  trustDomain?: string;
  /** Extra host names or IP addresses for the server certificate, added to {@link DEFAULT_SANS}. */
  sans?: string[];
  /** The master key provider; default `file`. */
  keys?: InitKeys;
}

/** How `ward init` makes the master key (docs/keys.md). */
export type InitKeys =
  | { provider: 'file' }
  /** `passphrase` is zeroed by the caller; `scryptLogN` below 17 only for tests. */
  | { provider: 'passphrase'; passphrase: Buffer; scryptLogN?: number }
  | { provider: 'shamir'; shares: number; threshold: number }
  /** `pinFile` undefined: the PIN is in $WARD_PKCS11_PIN (for init and for the server). */
  | { provider: 'pkcs11'; module: string; token: string; label?: string; pinFile?: string };

export interface InitResult {
  /** Absolute path of the new deployment. */
  dir: string;
  configPath: string;
  trustDomain: string;
  caFingerprint: string;
  adminSpiffeId: string;
  dnsNames: string[];
  ips: string[];
  /** The master key provider written to ward.toml. */
  keyProvider: InitKeys['provider'];
  /** `shamir`: the unseal shares, shown once and stored nowhere. */
  shares?: string[];
}

/**
 * Splits server names into DNS names and IP addresses (an IPv6 address may be bracketed).
 * @throws WardError ERR_USAGE for an empty name
 */
export function splitSans(sans: readonly string[]): { dnsNames: string[]; ips: string[] } {
  const dnsNames = new Set<string>();
  const ips = new Set<string>();
  for (const raw of sans) {
    const s = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (s === '') throw new WardError('ERR_USAGE', 'empty --san value');
    if (isIP(s)) ips.add(s);
    else dnsNames.add(s.toLowerCase());
  }
  return { dnsNames: [...dnsNames], ips: [...ips] };
}

function ioError(what: string, e: unknown): WardError {
  return new WardError('ERR_IO', `${what}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
}

function refuseExisting(dir: string): boolean {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(`cannot inspect ${dir}`, e);
  }
  const what = existsSync(join(dir, CONFIG_FILE)) ? 'a deployment' : 'something';
  if (!st.isDirectory() || readdirSync(dir).length > 0) {
    throw new WardError('ERR_EXISTS', `${dir} already exists and holds ${what}; ward init never overwrites`, {
      hint: 'choose another directory, or move the old one away if you really mean to start over',
    });
  }
  return true;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates a new deployment. See the module comment for the layout.
 * @throws WardError ERR_EXISTS, ERR_IO, ERR_USAGE (bad --san), ERR_PKI_INVALID_SPIFFE_ID (bad trust domain)
 */
export async function initDeployment(options: InitOptions): Promise<InitResult> {
  const dir = resolve(options.dir);
  const trustDomain = checkTrustDomain(options.trustDomain ?? DEFAULTS.trustDomain);
  const { dnsNames, ips } = splitSans([...DEFAULT_SANS, ...(options.sans ?? [])]);
  const replaceEmpty = refuseExisting(dir);

  // Certificates first: a bad --san fails here, before anything touches the disk.
  const ca = await createCA({ trustDomain });
  const serverKey = generateKeyPair();
  const server = await issueCertificate({
    ca, role: 'server', name: 'ward-server', publicKey: serverKey.publicKeyPem, dnsNames, ips, ttl: INIT_CERT_TTL_MS,
  });
  const adminKey = generateKeyPair();
  const admin = await issueCertificate({
    ca, role: 'admin', name: INIT_ADMIN_NAME, publicKey: adminKey.publicKeyPem, ttl: INIT_CERT_TTL_MS,
  });

  const keys = options.keys ?? { provider: 'file' };
  if (keys.provider === 'shamir') initShamirArgs(keys.shares, keys.threshold);
  const parent = dirname(dir);
  let tmp: string;
  let shares: string[] | undefined;
  try {
    mkdirSync(parent, { recursive: true });
    tmp = mkdtempSync(join(parent, `.${basename(dir)}.init-`));
  } catch (e) {
    throw ioError(`cannot create a directory in ${parent}`, e);
  }
  try {
    for (const sub of ['ca', 'server', 'data']) mkdirSync(join(tmp, sub), { mode: 0o700 });
    writeFileAtomic(join(tmp, 'ca', 'ca.crt'), ca.certPem, 0o644);
    writeFileAtomic(join(tmp, 'ca', 'ca.key'), ca.keyPem, 0o600);
    writeFileAtomic(join(tmp, 'server', 'server.crt'), server.certPem, 0o644);
    writeFileAtomic(join(tmp, 'server', 'server.key'), serverKey.privateKeyPem, 0o600);
    writeIdentityDir(join(tmp, 'admin'), { keyPem: adminKey.privateKeyPem, certPem: admin.certPem, caPem: ca.certPem });
    const made = await createMasterKey(tmp, keys);
    shares = made.shares;
    writeFileAtomic(join(tmp, CONFIG_FILE), renderConfig({ trustDomain, keys: made.render }), 0o644);
    for (const sub of ['ca', 'server', 'admin', 'data', '.']) fsyncDir(join(tmp, sub));
    // An empty DIR is replaced (rename(2) allows it); a non-empty one was refused above. Between
    // that check and here another process may have created DIR: rename then fails, nothing lost.
    if (replaceEmpty) refuseExisting(dir);
    renameSync(tmp, dir);
    fsyncDir(parent);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof WardError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new WardError('ERR_EXISTS', `${dir} appeared while the deployment was being created`, { cause: e });
    }
    throw ioError(`cannot create the deployment in ${dir}`, e);
  }
  return {
    dir,
    configPath: join(dir, CONFIG_FILE),
    trustDomain,
    caFingerprint: ca.fingerprint,
    adminSpiffeId: admin.spiffeId!,
    dnsNames,
    ips,
    keyProvider: keys.provider,
    ...(shares ? { shares } : {}),
  };
}

/** @throws WardError ERR_USAGE unless 2 <= threshold <= shares <= 255 */
function initShamirArgs(shares: number, threshold: number): void {
  if (!Number.isInteger(threshold) || !Number.isInteger(shares) || threshold < 2 || shares < threshold || shares > 255) {
    throw new WardError('ERR_USAGE', `need 2 <= --threshold <= --shares <= 255, not ${threshold} of ${shares}`, { hint: 'e.g. --shares 5 --threshold 3' });
  }
}

/** Makes the master key of `keys` in the deployment being built at `tmp`; returns its [keys] section. */
async function createMasterKey(tmp: string, keys: InitKeys): Promise<{ render: RenderKeys; shares?: string[] }> {
  const { initPassphrase, initShamir, writeSealedKey, generatePkcs11Key, readPkcs11Pin } = await import('./keys/index.ts');
  switch (keys.provider) {
    case 'file':
      createFileKey(join(tmp, DEFAULTS.masterKey));
      return { render: { provider: 'file' } };
    case 'passphrase': {
      const { sealedKey } = await initPassphrase({ passphrase: keys.passphrase, ...(keys.scryptLogN === undefined ? {} : { scryptLogN: keys.scryptLogN }) });
      writeSealedKey(join(tmp, DEFAULTS.sealedKey), sealedKey);
      return { render: { provider: 'passphrase' } };
    }
    case 'shamir': {
      const { sealedKey, shares } = initShamir({ shares: keys.shares, threshold: keys.threshold });
      writeSealedKey(join(tmp, DEFAULTS.sealedKey), sealedKey);
      return { render: { provider: 'shamir' }, shares };
    }
    case 'pkcs11': {
      const label = keys.label ?? DEFAULTS.pkcs11Label;
      const pinFile = keys.pinFile === undefined ? undefined : resolve(keys.pinFile);
      generatePkcs11Key({ module: keys.module, token: keys.token, label, pin: () => readPkcs11Pin(pinFile) });
      return { render: { provider: 'pkcs11', module: keys.module, token: keys.token, label, pinFile } };
    }
  }
}

/** A deployment's configuration with its certificates and keys read and cross-checked. */
export interface Deployment {
  config: WardConfig;
  /** The CA certificate, PEM (`[ca] cert`). */
  caCertPem: string;
  /** The CA with its key, for issuing; undefined when the key is kept offline (`[ca] key = ""`). */
  ca: CertificateAuthority | undefined;
  /** What the API listener needs: its certificate and key, and the CA client certificates must chain to. */
  serverTls: { certPem: string; keyPem: string; clientCaPem: string };
}

/** Reads a PEM file; private keys must not be readable by group or others. */
function readPem(path: string, key: string, secret: boolean): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WardError(code === 'ENOENT' ? 'ERR_CONFIG' : 'ERR_IO', `cannot open ${path} (${key}): ${code ?? 'error'}`, { cause: e });
  }
  try {
    if (secret && process.platform !== 'win32' && (fstatSync(fd).mode & 0o077) !== 0) {
      throw new WardError('ERR_KEY_INSECURE_PERMISSIONS', `${path} (${key}) is readable by group or others`, { hint: `chmod 600 ${path}` });
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads a deployment from its ward.toml (or the directory holding it): parses the configuration,
 * reads the CA, server certificate and keys, and checks that they belong together: the CA's
 * trust domain is `[server] trust_domain`, each key matches its certificate, key files are 0600.
 * The master key is left to the key provider (src/keys).
 * @throws WardError ERR_CONFIG, ERR_IO, ERR_KEY_INSECURE_PERMISSIONS, ERR_PKI_INVALID_CERT
 */
export function loadDeployment(configPath: string): Deployment {
  const config = loadConfig(configPath);
  const caCertPem = readPem(config.ca.cert, 'ca.cert', false);
  const caCert = parseCertificate(caCertPem);
  let ca: CertificateAuthority | undefined;
  if (config.ca.key !== undefined) ca = loadCA(caCertPem, readPem(config.ca.key, 'ca.key', true));
  const caTrustDomain = ca?.trustDomain ?? caTrustDomainOf(caCert);
  if (caTrustDomain !== config.server.trustDomain) {
    throw new WardError('ERR_CONFIG', `${config.path}: server.trust_domain is ${config.server.trustDomain} but the CA is for ${caTrustDomain}`);
  }
  const certPem = readPem(config.server.tls.cert, 'server.tls.cert', false);
  const keyPem = readPem(config.server.tls.key, 'server.tls.key', true);
  if (!parseCertificate(certPem).checkPrivateKey(parsePrivateKey(keyPem))) {
    throw new WardError('ERR_PKI_INVALID_CERT', `${config.server.tls.key} does not match ${config.server.tls.cert}`);
  }
  const clientCaPem = config.server.tls.clientCa === config.ca.cert ? caCertPem : readPem(config.server.tls.clientCa, 'server.tls.client_ca', false);
  return { config, caCertPem, ca, serverTls: { certPem, keyPem, clientCaPem } };
}
