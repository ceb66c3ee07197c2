/**
 * The identity directory: how a client certificate lives on disk, for `ward run --identity DIR`,
 * `WARD_IDENTITY`, `ward cert issue --out DIR`, `ward enroll --out DIR` and a deployment's
 * `admin/`. One format everywhere:
 *
 *   DIR/            0700
 *     key.pem       0600  the private key, PKCS#8 PEM, ECDSA P-256
 *     cert.pem      0644  the client certificate, PEM (one block)
 *     ca.pem        0644  the deployment CA certificate, PEM: the only trust anchor for the server
 *
 * Reading refuses a key.pem readable by group or others, and a key that does not match cert.pem.
 */
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { WardError } from '../errors.ts';
import { parsePrivateKey } from './keys.ts';
import { parseCertificate } from './pem.ts';

export const IDENTITY_FILES = { key: 'key.pem', cert: 'cert.pem', ca: 'ca.pem' } as const;

export interface IdentityFiles {
  /** Secret. */
  keyPem: string;
  certPem: string;
  caPem: string;
}

function read(dir: string, name: string): string {
  const path = join(dir, name);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new WardError('ERR_CONFIG', `identity directory ${dir} has no ${name}`, {
        hint: 'an identity directory holds key.pem, cert.pem and ca.pem (ward cert issue --out DIR, or ward enroll)',
      });
    }
    throw new WardError('ERR_IO', `cannot read ${path}: ${code ?? 'error'}`, { cause: e });
  }
}

/**
 * Reads and checks an identity directory.
 * @throws WardError ERR_CONFIG (missing file), ERR_IO, ERR_KEY_INSECURE_PERMISSIONS,
 *   ERR_PKI_INVALID_CERT (malformed, or key and certificate do not match), ERR_PKI_TOO_LARGE
 */
export function readIdentityDir(dir: string): IdentityFiles {
  const keyPath = join(dir, IDENTITY_FILES.key);
  const keyPem = read(dir, IDENTITY_FILES.key);
  if (process.platform !== 'win32' && (statSync(keyPath).mode & 0o077) !== 0) {
    throw new WardError('ERR_KEY_INSECURE_PERMISSIONS', `${keyPath} is readable by group or others`, { hint: `chmod 600 ${keyPath}` });
  }
  const certPem = read(dir, IDENTITY_FILES.cert);
  const caPem = read(dir, IDENTITY_FILES.ca);
  const cert = parseCertificate(certPem);
  parseCertificate(caPem);
  if (!cert.checkPrivateKey(parsePrivateKey(keyPem))) {
    throw new WardError('ERR_PKI_INVALID_CERT', `${keyPath} does not match ${join(dir, IDENTITY_FILES.cert)}`);
  }
  return { keyPem, certPem, caPem };
}

/** Writes a file durably through a temporary name, so a reader never sees half of it. */
export function writeFileAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * Writes an identity directory (creating DIR 0700). Refuses to replace an existing key.pem or
 * cert.pem unless `overwrite` (renewal).
 * @throws WardError ERR_EXISTS, ERR_IO
 */
export function writeIdentityDir(dir: string, files: IdentityFiles, options: { overwrite?: boolean } = {}): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new WardError('ERR_IO', `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  if (!options.overwrite) {
    for (const name of [IDENTITY_FILES.key, IDENTITY_FILES.cert]) {
      if (existsSync(join(dir, name))) throw new WardError('ERR_EXISTS', `${join(dir, name)} already exists`, { hint: 'choose another directory or remove the old identity' });
    }
  }
  try {
    writeFileAtomic(join(dir, IDENTITY_FILES.key), files.keyPem, 0o600);
    writeFileAtomic(join(dir, IDENTITY_FILES.cert), files.certPem, 0o644);
    writeFileAtomic(join(dir, IDENTITY_FILES.ca), files.caPem, 0o644);
  } catch (e) {
    throw new WardError('ERR_IO', `cannot write identity to ${dir}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
}
