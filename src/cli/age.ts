/**
 * The implementation behind `ward keygen`, `ward encrypt` and `ward decrypt` (age-compatible; the
 * flags mean what the age CLI's flags mean). Loaded lazily by src/cli/commands/{keygen,encrypt,
 * decrypt}.ts. Each run maps the request onto src/formats/age and renders the result.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { WardError } from '../errors.ts';
import { createDecryptor, createEncryptor, parseIdentitiesFile, parseRecipient, parseRecipientsFile, pump, ScryptIdentity, ScryptRecipient, X25519Identity, type Identity, type Recipient } from '../formats/age/index.ts';
import { decryptPgp, encryptPgp, isOpenPgpData, peek, readPublicKeys, readSecretKeys, sniff, type PgpPublicKey, type PgpSecretKey } from '../formats/pgp/index.ts';
import { usageError } from './args.ts';
import { openInput, stdoutIsTerminal, withOutput } from './io.ts';
import { readNewPassphrase, readPassphrase, type PassphraseOptions } from './passphrase.ts';
import { info, out } from './ui.ts';

/** RFC 3339 in local time, seconds precision, as Go's time.RFC3339 (what age-keygen writes). */
export function rfc3339(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const offset = -d.getTimezoneOffset();
  if (offset === 0) return `${base}Z`;
  const a = Math.abs(offset);
  return `${base}${offset > 0 ? '+' : '-'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

function readText(path: string, what: string): string {
  return readBytes(path, what).toString('utf8');
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WardError('ERR_IO', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** System errors from streaming (EPIPE, ENOSPC, ...) become ERR_IO; WardErrors pass through. */
function asIoError(e: unknown): unknown {
  if (e instanceof WardError || !(e instanceof Error)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  return code ? new WardError('ERR_IO', `i/o error: ${code}`, { cause: e }) : e;
}

export interface KeygenRequest {
  output?: string;
}

export function runKeygen(req: KeygenRequest): void {
  const identity = X25519Identity.generate();
  const recipient = identity.recipient.toString();
  const text = `# created: ${rfc3339(new Date())}\n# public key: ${recipient}\n${identity.toString()}\n`;
  if (req.output === undefined || req.output === '-') {
    if (!isatty(1)) info(`public key: ${recipient}`);
    out(text);
    return;
  }
  try {
    writeFileSync(req.output, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new WardError('ERR_EXISTS', `${req.output} already exists`, { hint: 'choose another file; ward keygen never overwrites a key' });
    throw new WardError('ERR_IO', `cannot write ${req.output}: ${code ?? 'error'}`);
  }
  out(recipient);
}

export interface EncryptRequest extends PassphraseOptions {
  recipients: string[];
  recipientsFiles: string[];
  passphrase: boolean;
  armor: boolean;
  output?: string;
  input?: string;
}

export async function runEncrypt(req: EncryptRequest): Promise<void> {
  if (req.passphrase && (req.recipients.length > 0 || req.recipientsFiles.length > 0)) {
    throw usageError('-p/--passphrase cannot be combined with -r/--recipient or -R/--recipients-file');
  }
  if (!req.passphrase && req.recipients.length === 0 && req.recipientsFiles.length === 0) {
    throw usageError('missing recipients', 'use -r RECIPIENT, -R FILE, or -p for a passphrase');
  }
  if ((req.output === undefined || req.output === '-') && !req.armor && stdoutIsTerminal()) {
    throw usageError('refusing to output binary to the terminal', 'did you mean to use -a/--armor, or -o FILE?');
  }
  const pgp = req.recipients.filter((r) => r.startsWith(PGP_PREFIX));
  if (pgp.length > 0) {
    if (pgp.length !== req.recipients.length || req.recipientsFiles.length > 0 || req.passphrase) {
      throw usageError('pgp: recipients cannot be mixed with age recipients, -R or -p', 'an OpenPGP message and an age file are different formats: encrypt once for each');
    }
    return runEncryptPgp(req, pgp.map((r) => r.slice(PGP_PREFIX.length)));
  }
  const recipients: Recipient[] = req.recipients.map((r) => parseRecipient(r));
  for (const f of req.recipientsFiles) recipients.push(...parseRecipientsFile(readText(f, 'recipients file'), f));
  if (req.passphrase) {
    const pass = await readNewPassphrase(req);
    recipients.push(new ScryptRecipient(pass));
    pass.fill(0);
  }
  const encryptor = await createEncryptor(recipients, { armor: req.armor });
  const input = openInput(req.input);
  try {
    await withOutput(req.output, 0o666, (sink) => pump(input.source, encryptor, sink));
  } catch (e) {
    throw asIoError(e);
  } finally {
    await input.close();
  }
}

/** `-r pgp:FILE`: FILE holds OpenPGP public keys (armored or binary); the output is an OpenPGP message. */
const PGP_PREFIX = 'pgp:';

async function runEncryptPgp(req: EncryptRequest, files: string[]): Promise<void> {
  const keys: PgpPublicKey[] = [];
  for (const f of files) keys.push(...(await readPublicKeys(readBytes(f, 'OpenPGP key file'), f)));
  const input = openInput(req.input);
  try {
    await withOutput(req.output, 0o666, (sink) => encryptPgp(input.source, sink, keys, { armor: req.armor }));
  } catch (e) {
    throw asIoError(e);
  } finally {
    await input.close();
  }
}

export interface DecryptRequest extends PassphraseOptions {
  identities: string[];
  output?: string;
  input?: string;
}

export async function runDecrypt(req: DecryptRequest): Promise<void> {
  const identities: Identity[] = [];
  const pgpKeys: PgpSecretKey[] = [];
  // An -i file holds age identities or OpenPGP secret keys; the input's first bytes pick which apply.
  for (const f of req.identities) {
    const data = readBytes(f, 'identity file');
    if (isOpenPgpData(data)) pgpKeys.push(...(await readSecretKeys(data, f)));
    else identities.push(...parseIdentitiesFile(data.toString('utf8'), f));
  }
  // Asks for a passphrase only if the file turns out to be passphrase-encrypted.
  identities.push(new ScryptIdentity(() => readPassphrase(req)));
  const input = openInput(req.input);
  try {
    const { head, source } = await peek(input.source);
    if (sniff(head) !== 'other') {
      if (pgpKeys.length === 0) throw new WardError('ERR_PGP_NO_KEY', 'the input is an OpenPGP message and no OpenPGP secret key was given', { hint: 'use -i KEY.asc with the secret key (gpg --export-secret-keys -a KEYID)' });
      // With -o, plaintext goes to a temp file removed on failure, so it may flow before the final
      // integrity check (flat memory); to stdout it is held until the message is authenticated.
      const toFile = req.output !== undefined && req.output !== '-';
      await withOutput(req.output, 0o600, (sink) => decryptPgp(source, sink, pgpKeys, () => readPassphrase(req), { streamUnverified: toFile }));
      return;
    }
    const decryptor = createDecryptor(identities, { armor: 'auto' });
    await withOutput(req.output, 0o600, (sink) => pump(source, decryptor, sink));
  } catch (e) {
    if (e instanceof WardError && e.code === 'ERR_AGE_NO_IDENTITY_MATCH' && req.identities.length === 0) {
      throw new WardError(e.code, e.message, { hint: 'use -i IDENTITY_FILE to give the key this file was encrypted to' });
    }
    throw asIoError(e);
  } finally {
    await input.close();
  }
}
