/**
 * `ward recipients add|ls|rm`, `ward seal`, `ward secret import` and `ward server recipient`
 * (docs/sealed.md): thin calls to the admin API. Sealing happens here, on the operator's machine:
 * the server receives only the ciphertext.
 */
import { readFileSync } from 'node:fs';
import { WardError } from '../../errors.ts';
import { checkSealRecipients, parseSealRecipient, sealValue, type SealRecipient } from '../../formats/sealed/index.ts';
import { formatFromPath, type ValueFileFormat } from '../../formats/valuefile/index.ts';
import { usageError } from '../args.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { info, out } from '../ui.ts';
import { formatTime, printJson, printTable } from './format.ts';
import { parseScope, parseSecretPath, parseVersion } from './parse.ts';
import { readValue } from './secret.ts';

/** The server's limit on an import (src/server/routes/recipients.ts MAX_IMPORT_CHARS). */
const MAX_IMPORT_BYTES = 1024 * 1024;

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new WardError('ERR_IO', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
}

/** `APP/ENV`, both required. */
function parseEnvScope(text: string): { app: string; env: string } {
  const s = parseScope(text);
  if (s.app === undefined || s.env === undefined) throw usageError(`expected APP/ENV, not ${JSON.stringify(text.slice(0, 400))}`);
  return { app: s.app, env: s.env };
}

/** `age1…` or `pgp:FILE` (an OpenPGP public key file), checked here before the server checks it again. */
async function readRecipientArg(text: string): Promise<SealRecipient> {
  if (text.startsWith('pgp:')) {
    const file = text.slice(4);
    return parseSealRecipient(readFile(file, 'OpenPGP key file'), file);
  }
  return parseSealRecipient(Buffer.from(text, 'utf8'), 'recipient');
}

export async function addRecipient(scopeText: string, recipientText: string, opts: ContextFlags & { json?: boolean }): Promise<void> {
  const scope = parseEnvScope(scopeText);
  const recipient = await readRecipientArg(recipientText);
  const r = await withClient(opts, ({ client }) => client.addRecipient(scope.app, scope.env, recipient.key));
  if (opts.json) printJson({ ...scope, ...r });
  else info(r.added ? `added ${r.id} to ${scopeText}` : `${scopeText} already has ${r.id}`);
}

export async function listRecipients(scopeText: string, opts: ContextFlags & { json?: boolean }): Promise<void> {
  const scope = parseEnvScope(scopeText);
  const recipients = await withClient(opts, ({ client }) => client.listRecipients(scope.app, scope.env));
  if (opts.json) {
    printJson(recipients);
    return;
  }
  printTable(['RECIPIENT', 'KIND', 'ADDED', 'BY'], recipients.map((r) => [r.id, r.kind, formatTime(r.createdAt), r.createdBy]));
}

export async function removeRecipient(scopeText: string, recipientText: string, opts: ContextFlags): Promise<void> {
  const scope = parseEnvScope(scopeText);
  // age1… and pgp:<fingerprint> are ids already; pgp:FILE names the key in FILE by its fingerprint
  let id = recipientText;
  if (/^pgp:[0-9a-fA-F]{40,64}$/.test(recipientText)) id = recipientText.toLowerCase();
  else if (recipientText.startsWith('pgp:')) id = (await readRecipientArg(recipientText)).id;
  await withClient(opts, ({ client }) => client.removeRecipient(scope.app, scope.env, id));
  info(`removed ${id} from ${scopeText} (values sealed to it before stay readable with its key: seal them again)`);
}

export async function seal(pathText: string, opts: ContextFlags & { fromFile?: string; file?: boolean; cas?: string; json?: boolean }): Promise<void> {
  const path = parseSecretPath(pathText);
  const where = `${path.app}/${path.env}`;
  const cas = opts.cas === undefined ? {} : { cas: parseVersion(opts.cas, '--cas', true) };
  const r = await withClient(opts, async ({ client }) => {
    const recipients = await client.listRecipients(path.app, path.env);
    // checked before anyone types a secret: nothing to seal to is an error now, not after
    checkSealRecipients(recipients, where);
    const value = await readValue(opts.fromFile, pathText);
    let sealed: Buffer;
    try {
      sealed = await sealValue(recipients, value, where);
    } finally {
      value.fill(0);
    }
    const written = await client.putSecret(path, sealed, { sealed: true, ...cas, ...(opts.file ? { kind: 'file' as const } : {}) });
    return { ...written, recipients: recipients.map((x) => x.id) };
  });
  if (opts.json) printJson({ ...path, version: r.version, recipients: r.recipients });
  else info(`sealed ${pathText} version ${r.version} to ${r.recipients.length} recipient(s); the server cannot read it`);
}

export async function importSecrets(file: string, opts: ContextFlags & { app?: string; env?: string; format?: string; json?: boolean }): Promise<void> {
  if ((opts.app === undefined) !== (opts.env === undefined)) throw usageError('give both --app and --env, or neither', 'without them, the file must be TOML with one table per APP/ENV');
  const format = (opts.format ?? formatFromPath(file) ?? 'env') as ValueFileFormat;
  if (!['env', 'toml', 'yaml', 'json'].includes(format)) throw usageError(`invalid --format ${JSON.stringify(format)}`, 'env, toml, yaml or json');
  const target = opts.app === undefined || opts.env === undefined ? {} : { ...parseEnvScope(`${opts.app}/${opts.env}`) };
  const bytes = readFile(file, 'input');
  if (bytes.length > MAX_IMPORT_BYTES) throw new WardError('ERR_API_TOO_LARGE', `${file} is larger than ${MAX_IMPORT_BYTES} bytes`, { hint: 'split it into several files' });
  const content = bytes.toString('utf8');
  const r = await withClient(opts, ({ client }) => client.importFile({ format, content, ...target }));
  if (opts.json) printJson(r);
  else info(`imported ${file}: ${r.written} written, ${r.unchanged} unchanged (${r.envs.join(', ') || 'nothing'})`);
}

export async function serverRecipient(opts: ContextFlags): Promise<void> {
  out(`${await withClient(opts, ({ client }) => client.serverRecipient())}\n`);
}
