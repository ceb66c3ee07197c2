/**
 * `ward run --identity FILE` and `--env-file FILE` (docs/run.md, docs/sealed.md): the app's own
 * private keys open what the server cannot read.
 *
 *   - a sealed secret (zero-knowledge mode) arrives as an age or OpenPGP message; it is opened here
 *     with the identities given, in memory, before the environment is built;
 *   - an encrypted .env/TOML/YAML/JSON file (`ward env|config encrypt`) is decrypted and its values
 *     injected as variables (a key path `db.password` becomes a variable as secret names do).
 *
 * Identity files: age identity files (`AGE-SECRET-KEY-1…` lines, as `ward keygen` writes) or
 * OpenPGP secret keys without a passphrase (armored or binary). Loaded once, only when needed.
 * Anything that cannot be opened stops the start: the app is never started without a value.
 */
import { readFileSync } from 'node:fs';
import { WardError } from '../../errors.ts';
import { parseIdentitiesFile, type Identity } from '../../formats/age/index.ts';
import { isOpenPgpData, readSecretKeys, type PgpSecretKey } from '../../formats/pgp/index.ts';
import { openSealedValue, type SealedIdentities } from '../../formats/sealed/index.ts';
import { decryptValueFile, formatFromPath } from '../../formats/valuefile/index.ts';
import type { Secret } from '../ward-client.ts';
import type { FetchedSecret } from './env.ts';

function readKeyFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WardError('ERR_IO', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
}

/**
 * Reads the identity files.
 * @throws WardError ERR_IO, ERR_AGE_IDENTITY, ERR_PGP_KEY
 */
export async function loadIdentities(files: readonly string[]): Promise<SealedIdentities> {
  const age: Identity[] = [];
  const pgp: PgpSecretKey[] = [];
  for (const f of files) {
    const data = readKeyFile(f, 'identity file');
    try {
      if (isOpenPgpData(data)) pgp.push(...(await readSecretKeys(data, f)));
      else age.push(...parseIdentitiesFile(data.toString('utf8'), f));
    } finally {
      data.fill(0);
    }
  }
  return { age, pgp };
}

/** Loads the identities on first use, once. */
export function lazyIdentities(files: readonly string[]): () => Promise<SealedIdentities> {
  let loaded: Promise<SealedIdentities> | undefined;
  return () => (loaded ??= loadIdentities(files));
}

/**
 * Replaces each sealed secret's value by its plaintext (the ciphertext buffer is zeroed).
 * @throws WardError ERR_SEALED_NO_IDENTITY (no identity given, or none opens it), and what
 *   openSealedValue throws for a damaged value
 */
export async function unsealSecrets(secrets: Secret[], identities: () => Promise<SealedIdentities>, given: boolean): Promise<void> {
  for (const s of secrets) {
    if (!s.sealed) continue;
    const what = `${s.app}/${s.env}/${s.name}`;
    if (!given) {
      throw new WardError('ERR_SEALED_NO_IDENTITY', `${what} is sealed to the app's own key`, { hint: "pass the app's private key: ward run --identity FILE (age identity or OpenPGP secret key)" });
    }
    const plaintext = await openSealedValue(s.value, await identities(), what);
    s.value.fill(0);
    s.value = plaintext;
    s.sealed = false;
  }
}

/**
 * Decrypts each `--env-file` (format from its name: .env, .toml, .yaml/.yml, .json) into secrets.
 * A later file's key wins over an earlier one's.
 * @throws WardError ERR_SEALED_NO_IDENTITY when no identity opens a file; ERR_VALUEFILE_* for a
 *   tampered or malformed file; ERR_IO
 */
export async function readEnvFiles(files: readonly string[], identities: () => Promise<SealedIdentities>): Promise<FetchedSecret[]> {
  const out = new Map<string, FetchedSecret>();
  for (const f of files) {
    const format = formatFromPath(f) ?? 'env';
    const text = readKeyFile(f, '--env-file').toString('utf8');
    const ids = await identities();
    let values: Map<string, Buffer>;
    try {
      values = await decryptValueFile(text, format, ids.age);
    } catch (e) {
      if (e instanceof WardError && e.code === 'ERR_AGE_NO_IDENTITY_MATCH') {
        throw new WardError('ERR_SEALED_NO_IDENTITY', `--env-file ${f}: none of the identities given opens it`, { cause: e, hint: 'pass the age identity it was encrypted to with --identity FILE' });
      }
      throw e;
    }
    for (const [name, value] of values) {
      out.get(name)?.value.fill(0);
      out.set(name, { name, value, kind: 'env' });
    }
  }
  return [...out.values()];
}
