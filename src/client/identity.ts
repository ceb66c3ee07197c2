/**
 * A client identity on disk: the directory layout `ward init` writes for the admin (`admin/`) and
 * `ward cert issue` / `ward enroll` write for a workload:
 *
 *   DIR/key.pem   the private key (PKCS#8 PEM), mode 0600, never leaves the machine
 *   DIR/cert.pem  the client certificate (leaf first, optional intermediates after it)
 *   DIR/ca.pem    the deployment CA the server's certificate must chain to
 *
 * A key file group or others can read is refused, as ssh refuses one.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { WardError } from '../errors.ts';

/** PEM files are small; anything bigger is not what we expect. */
const MAX_PEM_BYTES = 64 * 1024;

export interface Identity {
  /** The directory the identity was read from (for messages). */
  dir: string;
  key: Buffer;
  cert: string;
  ca: string;
}

export const IDENTITY_FILES = { key: 'key.pem', cert: 'cert.pem', ca: 'ca.pem' } as const;

function readBounded(path: string, what: string, isKey: boolean): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new WardError(isKey ? 'ERR_KEY_NOT_FOUND' : 'ERR_CONFIG', `cannot read ${what} ${path}${missing ? ': no such file' : ''}`, {
      cause: e,
      hint: 'an identity directory holds key.pem, cert.pem and ca.pem (made by `ward init` or `ward cert issue`)',
    });
  }
  try {
    const st = fstatSync(fd);
    if (isKey && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new WardError('ERR_KEY_INSECURE_PERMISSIONS', `private key ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)})`, {
        hint: `chmod 600 ${path}`,
      });
    }
    if (st.size > MAX_PEM_BYTES) throw new WardError('ERR_CONFIG', `${what} ${path} is larger than ${MAX_PEM_BYTES} bytes`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

function pemText(buf: Buffer, path: string, what: string, label: RegExp): string {
  const text = buf.toString('utf8');
  if (!label.test(text)) {
    throw new WardError('ERR_PKI_INVALID_CERT', `${what} ${path} is not a PEM file`, { hint: 'expected -----BEGIN ...----- blocks' });
  }
  return text;
}

/**
 * Reads an identity directory.
 * @throws WardError ERR_KEY_INSECURE_PERMISSIONS (key readable by group/others), ERR_KEY_NOT_FOUND
 *   (no key.pem), ERR_CONFIG (missing cert.pem / ca.pem), ERR_PKI_INVALID_CERT (not PEM)
 */
export function loadIdentity(dir: string): Identity {
  const keyPath = join(dir, IDENTITY_FILES.key);
  const certPath = join(dir, IDENTITY_FILES.cert);
  const caPath = join(dir, IDENTITY_FILES.ca);
  const key = readBounded(keyPath, 'private key', true);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1'))) {
    key.fill(0);
    throw new WardError('ERR_KEY_INVALID', `private key ${keyPath} is not a PEM private key`);
  }
  const cert = pemText(readBounded(certPath, 'certificate', false), certPath, 'certificate', /-----BEGIN CERTIFICATE-----/);
  const ca = pemText(readBounded(caPath, 'CA certificate', false), caPath, 'CA certificate', /-----BEGIN CERTIFICATE-----/);
  return { dir, key, cert, ca };
}
