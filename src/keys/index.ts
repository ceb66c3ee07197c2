/**
 * Master-key providers and the key hierarchy: the public surface of src/keys.
 *
 * {@link openKeyProvider} opens the provider `[keys]` in ward.toml names. `file` and `pkcs11`
 * start unsealed; `passphrase` and `shamir` start sealed (wrap/unwrap throw ERR_KEY_SEALED) until
 * `unseal(passphrase)` / `submitShare(share)` (or the uniform `unseal(secret)`). See docs/keys.md.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import type { KeysConfig } from '../config.ts';
import { WardError } from '../errors.ts';
import { openFileKeyProvider } from './file.ts';
import { openPkcs11KeyProvider } from './pkcs11.ts';
import type { KeyProvider } from './provider.ts';
import { openPassphraseKeyProvider, openShamirKeyProvider } from './sealed.ts';

export { createFileKey, keyIdFor, openFileKeyProvider, rawKeyProvider } from './file.ts';
export type { KeyProvider, UnsealProgress } from './provider.ts';
export {
  DEFAULT_SCRYPT_LOG_N, initPassphrase, initShamir, openPassphraseKeyProvider, openSealedKey, openShamirKeyProvider, writeSealedKey,
  type ExistingKey, type PassphraseKeyProvider, type ShamirKeyProvider,
} from './sealed.ts';
export { generatePkcs11Key, openPkcs11KeyProvider, pkcs11KeyAttributes, type Pkcs11Options } from './pkcs11.ts';
export { KeyHierarchy, kekKeyId, memoryKekStorage, parseKekKeyId, type KekRecord, type KekScope, type KekStorage } from './hierarchy.ts';

/** The environment variable holding the token PIN when `[keys] pin_file` is not set. */
export const PKCS11_PIN_ENV = 'WARD_PKCS11_PIN';
const MAX_PIN_BYTES = 256;

/**
 * Reads the PKCS#11 user PIN: the first line of `pin_file` (mode 0600 or stricter), else
 * $WARD_PKCS11_PIN.
 * @throws WardError ERR_CONFIG (no PIN), ERR_KEY_INSECURE_PERMISSIONS, ERR_KEY_NOT_FOUND
 */
export function readPkcs11Pin(pinFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (pinFile === undefined) {
    const pin = env[PKCS11_PIN_ENV];
    if (!pin) throw new WardError('ERR_CONFIG', `the pkcs11 provider needs a PIN: set [keys] pin_file or ${PKCS11_PIN_ENV}`);
    return Buffer.from(pin);
  }
  let fd: number;
  try {
    fd = openSync(pinFile, 'r');
  } catch (e) {
    throw new WardError('ERR_KEY_NOT_FOUND', `cannot open PIN file ${pinFile}`, { cause: e, hint: 'check [keys] pin_file in ward.toml' });
  }
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o077) !== 0) throw new WardError('ERR_KEY_INSECURE_PERMISSIONS', `PIN file ${pinFile} is readable by group or others`, { hint: `chmod 600 ${pinFile}` });
    if (st.size > MAX_PIN_BYTES) throw new WardError('ERR_KEY_INVALID', `PIN file ${pinFile} is larger than ${MAX_PIN_BYTES} bytes`);
    const bytes = readFileSync(fd);
    const end = bytes.indexOf(0x0a);
    const line = end < 0 ? bytes : bytes.subarray(0, end > 0 && bytes[end - 1] === 0x0d ? end - 1 : end);
    const pin = Buffer.from(line);
    bytes.fill(0);
    if (pin.length === 0) throw new WardError('ERR_KEY_INVALID', `PIN file ${pinFile} is empty`);
    return pin;
  } finally {
    closeSync(fd);
  }
}

export interface OpenKeyProviderOptions {
  /** Where $WARD_PKCS11_PIN is looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Opens the provider `[keys]` configures.
 * @throws WardError ERR_KEY_*, ERR_PKCS11_*, ERR_CONFIG
 */
export function openKeyProvider(keys: KeysConfig, options: OpenKeyProviderOptions = {}): KeyProvider {
  switch (keys.provider) {
    case 'file':
      return openFileKeyProvider(keys.path);
    case 'passphrase':
      return openPassphraseKeyProvider(keys.path);
    case 'shamir':
      return openShamirKeyProvider(keys.path);
    case 'pkcs11': {
      const p = keys.pkcs11;
      if (!p) throw new TypeError('[keys] provider = "pkcs11" without its settings');
      return openPkcs11KeyProvider({ module: p.module, token: p.token, label: p.label, pin: () => readPkcs11Pin(p.pinFile, options.env) });
    }
  }
}
