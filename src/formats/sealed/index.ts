/**
 * Sealed secret values (zero-knowledge mode, docs/sealed.md): a value encrypted on the operator's
 * machine to the consuming app's recipients, stored by the server as opaque bytes, opened by
 * `ward run --identity FILE`. The value is a plain message of an existing format, so the app's
 * own tools can open it too:
 *
 *   - to age recipients (`age1…`): a binary age v1 file (https://c2sp.org/age);
 *   - to OpenPGP keys: a binary OpenPGP message (RFC 9580 / 4880, as src/formats/pgp writes).
 *
 * One value is one message, so the recipients of an APP/ENV are all of one kind. Pure: bytes in,
 * bytes out.
 */
import { WardError } from '../../errors.ts';
import { encrypt as ageEncrypt, decrypt as ageDecrypt, parseRecipient, type Identity } from '../age/index.ts';
export { E2E_CONTENT_TYPE, E2E_HEADER } from './e2e.ts';
import { decryptPgp, encryptPgp, isOpenPgpData, readPublicKeys, sniff, type PgpSecretKey } from '../pgp/index.ts';

/** A recipient as `ward recipients` registers it (src/store/types.ts RecipientRecord). */
export interface SealRecipient {
  /** The `age1…` string, or `pgp:` and the primary key's fingerprint (lowercase hex). */
  id: string;
  kind: 'age' | 'pgp';
  /** The `age1…` string, or the ASCII-armored OpenPGP public key. */
  key: string;
}

/** The first bytes of every age v1 file. */
const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n');

/**
 * Checks a recipient given as text: an `age1…` recipient, or one OpenPGP public key (armored or
 * binary) that can encrypt now. `name` says where it came from in errors.
 * @throws WardError ERR_AGE_RECIPIENT, ERR_PGP_KEY
 */
export async function parseSealRecipient(data: Uint8Array, name: string): Promise<SealRecipient> {
  if (isOpenPgpData(data)) {
    const keys = await readPublicKeys(data, name);
    if (keys.length !== 1) throw new WardError('ERR_PGP_KEY', `${name}: holds ${keys.length} keys; add one key at a time`, { hint: 'export a single key: gpg --export -a KEYID' });
    const key = keys[0]!;
    return { id: `pgp:${key.getFingerprint().toLowerCase()}`, kind: 'pgp', key: key.armor() };
  }
  const text = Buffer.from(data).toString('utf8').trim();
  if (!text.startsWith('age1')) {
    throw new WardError('ERR_AGE_RECIPIENT', `${name}: not an age recipient (age1…) or an OpenPGP public key`, { hint: 'use an age1… recipient (ward keygen) or pgp:FILE.asc' });
  }
  parseRecipient(text);
  return { id: text, kind: 'age', key: text };
}

/**
 * Checks that a value can be sealed to these recipients of `where` (APP/ENV): at least one, all of
 * one kind.
 * @throws WardError ERR_SEALED_NO_RECIPIENTS, ERR_SEALED_RECIPIENTS_MIXED
 */
export function checkSealRecipients(recipients: readonly SealRecipient[], where: string): 'age' | 'pgp' {
  if (recipients.length === 0) {
    throw new WardError('ERR_SEALED_NO_RECIPIENTS', `${where} has no recipients`, { hint: `register the app's public key first: ward recipients add ${where} age1…` });
  }
  const kinds = new Set(recipients.map((r) => r.kind));
  if (kinds.size > 1) {
    throw new WardError('ERR_SEALED_RECIPIENTS_MIXED', `${where} has both age and OpenPGP recipients; a sealed value is one message of one kind`, {
      hint: `keep one kind: ward recipients ls ${where}, then ward recipients rm`,
    });
  }
  return recipients[0]!.kind;
}

/**
 * Encrypts a value to every recipient (one message).
 * @throws WardError ERR_SEALED_NO_RECIPIENTS, ERR_SEALED_RECIPIENTS_MIXED, ERR_AGE_RECIPIENT, ERR_PGP_KEY
 */
export async function sealValue(recipients: readonly SealRecipient[], plaintext: Buffer, where: string): Promise<Buffer> {
  if (checkSealRecipients(recipients, where) === 'age') return ageEncrypt(recipients.map((r) => parseRecipient(r.key)), plaintext);
  const keys = (await Promise.all(recipients.map((r) => readPublicKeys(Buffer.from(r.key, 'utf8'), r.id)))).flat();
  const out: Buffer[] = [];
  await encryptPgp(bufferSource(plaintext), { write: async (chunks) => void out.push(...chunks.map((c) => Buffer.from(c))) }, keys);
  return Buffer.concat(out);
}

/** Keys that open sealed values: age identities and OpenPGP secret keys (unprotected). */
export interface SealedIdentities {
  age: readonly Identity[];
  pgp: readonly PgpSecretKey[];
}

/** Which kind of message a sealed value is, or null when it is neither. */
export function sealedKind(value: Uint8Array): 'age' | 'pgp' | null {
  if (value.length >= AGE_MAGIC.length && AGE_MAGIC.equals(value.subarray(0, AGE_MAGIC.length))) return 'age';
  return sniff(value.subarray(0, 64)) === 'other' ? null : 'pgp';
}

/**
 * Opens a sealed value with the app's identities. `what` names the secret in errors.
 * @throws WardError ERR_SEALED_NO_IDENTITY when none of them opens it (or none of its kind was
 *   given); ERR_CRYPTO_FORMAT when it is not an age or OpenPGP message; the age/OpenPGP error for a
 *   damaged one
 */
export async function openSealedValue(value: Buffer, ids: SealedIdentities, what: string): Promise<Buffer> {
  const kind = sealedKind(value);
  if (kind === null) throw new WardError('ERR_CRYPTO_FORMAT', `${what} is marked sealed but is not an age or OpenPGP message`);
  const noMatch = (cause?: unknown) =>
    new WardError('ERR_SEALED_NO_IDENTITY', `${what} is sealed (${kind === 'age' ? 'age' : 'OpenPGP'}) and none of the identities given opens it`, {
      ...(cause === undefined ? {} : { cause }),
      hint: `pass the app's private key with --identity FILE (${kind === 'age' ? 'an age identity file' : 'an OpenPGP secret key'})`,
    });
  if (kind === 'age') {
    if (ids.age.length === 0) throw noMatch();
    try {
      return await ageDecrypt(ids.age, value);
    } catch (e) {
      if (e instanceof WardError && e.code === 'ERR_AGE_NO_IDENTITY_MATCH') throw noMatch(e);
      throw e;
    }
  }
  if (ids.pgp.length === 0) throw noMatch();
  const out: Buffer[] = [];
  try {
    await decryptPgp(
      bufferSource(value),
      { write: async (chunks) => void out.push(...chunks.map((c) => Buffer.from(c))) },
      ids.pgp,
      () => Promise.reject(new WardError('ERR_PGP_PASSPHRASE', 'the OpenPGP secret key is passphrase-protected', { hint: 'give ward run an unprotected key (gpg --export-secret-keys with an empty passphrase)' })),
    );
  } catch (e) {
    for (const c of out) c.fill(0);
    if (e instanceof WardError && e.code === 'ERR_PGP_NO_KEY') throw noMatch(e);
    throw e;
  }
  const plaintext = Buffer.concat(out);
  for (const c of out) c.fill(0);
  return plaintext;
}

function bufferSource(b: Buffer): { read(): Promise<Buffer | null> } {
  let done = false;
  return {
    read() {
      if (done) return Promise.resolve(null);
      done = true;
      return Promise.resolve(b);
    },
  };
}
