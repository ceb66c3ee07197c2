/**
 * `--encryption-key PROTO:KEY` and `--decryption-key FILE[:PASS]` as skopeo reads them
 * (ocicrypt helpers/parse_helpers.go), turned into key wrappers.
 *
 *   --encryption-key jwe:PATH     a PEM/DER/JWK RSA or EC public key
 *   --decryption-key PATH[:PASS]  a private key; PASS is `file=PATH`, `fd=N`, `pass=TEXT` or TEXT
 *   passphrase                    Ward-only PBES2-HS512+A256KW recipient/key
 *
 * `ward:APP/ENV/NAME` (keys held by the Ward server) is one more KeyWrapper: src/image/ward-keys.ts.
 */
import { readFileSync } from 'node:fs';
import { WardError } from '../errors.ts';
import { JweKeyWrapper, parsePrivateKey, parsePublicKey } from '../formats/ocicrypt/index.ts';
import type { JweKey, JweRecipient, KeyWrapper } from '../formats/ocicrypt/index.ts';

function readKeyFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WardError('ERR_OCICRYPT_KEY', `cannot read ${what} ${JSON.stringify(path)}`, { cause: e });
  }
}

/** Wrappers for `--encryption-key` values. */
export function encryptionWrappers(specs: readonly string[]): KeyWrapper[] {
  const recipients: JweRecipient[] = specs.map((spec) => {
    const i = spec.indexOf(':');
    const proto = i < 0 ? '' : spec.slice(0, i);
    if (proto === 'jwe') {
      const { key, alg } = parsePublicKey(readKeyFile(spec.slice(i + 1), 'public key'));
      return { kind: 'public', key, alg };
    }
    throw new WardError('ERR_USAGE', `unsupported --encryption-key ${JSON.stringify(proto || spec)}`, {
      hint: 'use jwe:PUBLIC_KEY_FILE (RSA or EC public key in PEM or JWK)',
    });
  });
  return recipients.length ? [new JweKeyWrapper(recipients, [])] : [];
}

/** The key passphrase part of `FILE:PASS` (ocicrypt's processPwdString). */
function keyPassphrase(spec: string): Buffer {
  if (spec.startsWith('file=')) return readKeyFile(spec.slice(5), 'passphrase file');
  if (spec.startsWith('pass=')) return Buffer.from(spec.slice(5));
  if (spec.startsWith('fd=')) {
    const fd = Number(spec.slice(3));
    if (!Number.isInteger(fd) || fd < 0) throw new WardError('ERR_USAGE', `invalid file descriptor in ${JSON.stringify(spec.slice(0, 16))}`);
    return readFileSync(fd);
  }
  return Buffer.from(spec);
}

/** Wrappers for `--decryption-key` values. */
export function decryptionWrappers(specs: readonly string[]): KeyWrapper[] {
  const keys: JweKey[] = specs.map((spec) => {
    const i = spec.indexOf(':');
    const path = i < 0 ? spec : spec.slice(0, i);
    const pass = i < 0 ? undefined : keyPassphrase(spec.slice(i + 1)).toString('utf8').replace(/\r?\n$/, '');
    return { kind: 'private', key: parsePrivateKey(readKeyFile(path, 'private key'), pass === undefined ? undefined : Buffer.from(pass)) };
  });
  return keys.length ? [new JweKeyWrapper([], keys)] : [];
}

/** The Ward-only passphrase wrapper: a PBES2-HS512+A256KW recipient and key in one. */
export function passphraseWrapper(passphrase: Buffer, iterations?: number): KeyWrapper {
  return new JweKeyWrapper([iterations ? { kind: 'passphrase', passphrase, iterations } : { kind: 'passphrase', passphrase }], [{ kind: 'passphrase', passphrase }]);
}
