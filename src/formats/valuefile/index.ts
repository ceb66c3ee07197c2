/**
 * Per-value encrypted .env, TOML, YAML and JSON files (docs/formats.md, "Per-value encrypted
 * files"): keys stay readable, each value becomes a `WARD[v1:age:<type>:<base64>]` token sealed
 * with AES-256-GCM under a per-file key bound to its key path, the file key is age-encrypted to
 * the recipients once, and a file MAC covers the ordered list of values. The public surface of
 * src/formats/valuefile; pure (text in, text out).
 */
import { extname } from 'node:path';
import type { Identity, Recipient } from '../age/index.ts';
import { openDocument, revealDocument, sealDocument, type ValueDocument } from './document.ts';
import { EnvDocument } from './env.ts';
import { displayPath, type Segment } from './seal.ts';
import { tomlDocument } from './toml.ts';
import { jsonDocument } from './tree.ts';
import { YamlDocument } from './yaml.ts';

export { displayPath, type Segment } from './seal.ts';

export const VALUE_FILE_FORMATS = ['env', 'toml', 'yaml', 'json'] as const;
export type ValueFileFormat = (typeof VALUE_FILE_FORMATS)[number];

/** The format a file name implies (`.env`, `x.env`, `.env.production` are env), or null. */
export function formatFromPath(path: string): ValueFileFormat | null {
  const ext = extname(path).toLowerCase();
  if (ext === '.toml') return 'toml';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.json') return 'json';
  if (ext === '.env' || /(^|[\\/])\.env(\.[^\\/]*)?$/.test(path)) return 'env';
  return null;
}

function load(text: string, format: ValueFileFormat): ValueDocument {
  switch (format) {
    case 'env':
      return new EnvDocument(text);
    case 'yaml':
      return new YamlDocument(text);
    case 'json':
      return jsonDocument(text);
    case 'toml':
      return tomlDocument(text);
    default:
      throw new TypeError(`unknown value-file format ${String(format)}`);
  }
}

/** Whether `text` is a Ward-encrypted value file (it has the reserved entry). */
export function isEncryptedValueFile(text: string, format: ValueFileFormat): boolean {
  return load(text, format).meta() !== null;
}

export interface EncryptValueFileOptions {
  /** age recipients for a new (or re-wrapped) file key; may be empty when `previous` is given. */
  recipients: readonly Recipient[];
  /** The recipients' strings (`age1…`), recorded in the file so an unchanged set keeps the key. */
  recipientNames: readonly string[];
  /** The previous encrypted version of the file and identities that open it. */
  previous?: { text: string; identities: readonly Identity[] };
}

/**
 * Encrypts every value of a plaintext file. With `previous`, the file key and the token of every
 * unchanged value are reused, so re-encrypting an unchanged file gives the identical file and a
 * changed value changes only its own line (plus the MAC).
 * @throws WardError ERR_VALUEFILE_SYNTAX, ERR_AGE_RECIPIENT, and for `previous` what
 *   {@link decryptValueFile} throws
 */
export async function encryptValueFile(text: string, format: ValueFileFormat, options: EncryptValueFileOptions): Promise<string> {
  const doc = load(text, format);
  const previous = options.previous === undefined ? undefined : await openDocument(load(options.previous.text, format), options.previous.identities);
  await sealDocument(doc, { recipients: options.recipients, recipientNames: options.recipientNames, previous });
  previous?.fileKey.fill(0);
  return doc.toString();
}

/**
 * Decrypts every value of an encrypted file: key path (`DB_PASSWORD`, `db.password`,
 * `servers[0].host`) to plaintext bytes, in file order. Numbers and booleans are their text.
 * This is the entry point for `ward run --env-file`.
 * @throws WardError ERR_VALUEFILE_FORMAT, ERR_VALUEFILE_AUTH, ERR_VALUEFILE_MAC,
 *   ERR_VALUEFILE_SYNTAX, ERR_AGE_NO_IDENTITY_MATCH (and other ERR_AGE_* for the file key)
 */
export async function decryptValueFile(text: string, format: ValueFileFormat, identities: readonly Identity[]): Promise<Map<string, Buffer>> {
  return new Map((await decryptValueFileEntries(text, format, identities)).map((v) => [displayPath(v.path), v.plaintext]));
}

/**
 * As {@link decryptValueFile}, with each key path as its segments (`["shop/prod", "DB_PASSWORD"]`),
 * for callers that give the levels a meaning (a TOML table per APP/ENV in `ward secret import`).
 */
export async function decryptValueFileEntries(text: string, format: ValueFileFormat, identities: readonly Identity[]): Promise<{ path: Segment[]; plaintext: Buffer }[]> {
  const opened = await openDocument(load(text, format), identities);
  opened.fileKey.fill(0);
  return opened.values.map((v) => ({ path: v.path, plaintext: v.plaintext }));
}

/** Decrypts a file back to its plaintext form (reserved entry removed). Throws as {@link decryptValueFile}. */
export async function decryptValueFileText(text: string, format: ValueFileFormat, identities: readonly Identity[]): Promise<string> {
  const doc = load(text, format);
  const opened = await openDocument(doc, identities);
  opened.fileKey.fill(0);
  revealDocument(doc, opened);
  return doc.toString();
}
