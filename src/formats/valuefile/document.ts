/**
 * The engine of per-value encrypted files, independent of the syntax: a format adapter (env.ts,
 * tree.ts, yaml.ts, toml.ts) exposes a file as an ordered list of leaf values plus the reserved
 * entry; this module seals, opens and MACs them (seal.ts).
 *
 * Re-encryption keeps what did not change: given the previous encrypted version and an identity
 * that opens it, the previous file key is reused, and a value whose key path, type and plaintext
 * are unchanged keeps its exact token (decrypt-and-compare). Deterministic (SIV-like) nonces would
 * give the same stability but make equal plaintexts at a path visible forever (a value changed
 * back to an old one would show up as the old ciphertext in git history); random nonces plus
 * reuse reveal only which values changed, which the diff shows anyway. Both need the file key, so
 * an identity is needed either way.
 */
import { randomBytes } from 'node:crypto';
import { WardError } from '../../errors.ts';
import { decrypt as ageDecrypt, encrypt as ageEncrypt, type Identity, type Recipient } from '../age/index.ts';
import { FileKeys, VERSION, displayPath, looksLikeToken, parseToken, type ParsedToken, type Segment, type ValueType } from './seal.ts';

export interface Leaf {
  path: Segment[];
  type: ValueType;
  /** The value as text: the plaintext (numbers and booleans as written), or a WARD[…] token. */
  text: string;
}

/** The reserved entry: `WARD_KEY`/`WARD_MAC`/`WARD_RECIPIENTS` in .env, `_ward` elsewhere. */
export interface Meta {
  version: number;
  recipients: string[];
  /** base64 of the age-encrypted file key. */
  key: string;
  /** base64 of the file MAC. */
  mac: string;
}

export interface ValueDocument {
  /** The values in file order, without the reserved entry. */
  leaves(): Leaf[];
  /** Replaces the value of leaves()[index]; `type` says how to write a plaintext back. */
  set(index: number, text: string, type: ValueType): void;
  meta(): Meta | null;
  setMeta(meta: Meta | null): void;
  toString(): string;
}

export interface OpenedValue {
  path: Segment[];
  type: ValueType;
  token: string;
  plaintext: Buffer;
}

export interface Opened {
  fileKey: Buffer;
  meta: Meta;
  values: OpenedValue[];
}

const pathKey = (path: readonly Segment[]): string => JSON.stringify(path);

function checkedBase64(text: string, what: string): Buffer {
  const b = Buffer.from(text, 'base64');
  if (b.length === 0 || b.toString('base64') !== text) throw new WardError('ERR_VALUEFILE_FORMAT', `invalid ${what} in the reserved entry: not canonical base64`);
  return b;
}

/**
 * Opens every value of an encrypted document and checks the file MAC. Values are checked before
 * the MAC, so an edited or moved value is named (ERR_VALUEFILE_AUTH) rather than reported as a
 * MAC failure.
 * @throws WardError ERR_VALUEFILE_FORMAT, ERR_VALUEFILE_AUTH, ERR_VALUEFILE_MAC, ERR_AGE_* (file key)
 */
export async function openDocument(doc: ValueDocument, identities: readonly Identity[]): Promise<Opened> {
  const meta = doc.meta();
  if (meta === null) throw new WardError('ERR_VALUEFILE_FORMAT', 'not a ward-encrypted file: no reserved WARD_KEY / _ward entry');
  if (meta.version !== VERSION) throw new WardError('ERR_VALUEFILE_FORMAT', `unsupported value-file version ${JSON.stringify(meta.version)}`, { hint: 'a newer ward wrote this file' });
  const fileKey = await ageDecrypt(identities, checkedBase64(meta.key, 'key'), { armor: false });
  const keys = new FileKeys(fileKey);
  const values: OpenedValue[] = [];
  const tokens: { path: Segment[]; token: ParsedToken }[] = [];
  for (const leaf of doc.leaves()) {
    if (!looksLikeToken(leaf.text)) throw new WardError('ERR_VALUEFILE_FORMAT', `value at ${displayPath(leaf.path)} is not encrypted: added to the file after encryption`);
    const token = parseToken(leaf.text, leaf.path);
    values.push({ path: leaf.path, type: token.type, token: leaf.text, plaintext: keys.open(leaf.path, token) });
    tokens.push({ path: leaf.path, token });
  }
  keys.verifyMac(checkedBase64(meta.mac, 'mac'), meta.recipients, tokens);
  return { fileKey, meta, values };
}

export interface SealOptions {
  /** Recipients to wrap a new file key to; may be empty when `previous` is given. */
  recipients: readonly Recipient[];
  /** Their strings, as recorded in the reserved entry. */
  recipientNames: readonly string[];
  /** The opened previous version of this file: its file key and unchanged tokens are reused. */
  previous?: Opened;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * Encrypts every value of a plaintext document in place and writes the reserved entry.
 * @throws WardError ERR_VALUEFILE_SYNTAX (already encrypted), ERR_AGE_RECIPIENT
 */
export async function sealDocument(doc: ValueDocument, opts: SealOptions): Promise<void> {
  if (doc.meta() !== null) throw new WardError('ERR_VALUEFILE_SYNTAX', 'the input is already encrypted (it has the reserved WARD_KEY / _ward entry)', { hint: 'encrypt the decrypted file; give the encrypted one as the output to keep unchanged values' });
  const prev = opts.previous;
  let fileKey: Buffer;
  let recipients: string[];
  let wrapped: string;
  if (prev !== undefined && (opts.recipientNames.length === 0 || sameSet(opts.recipientNames, prev.meta.recipients))) {
    fileKey = prev.fileKey;
    recipients = prev.meta.recipients;
    wrapped = prev.meta.key;
  } else {
    if (opts.recipients.length === 0) throw new WardError('ERR_AGE_RECIPIENT', 'no recipients');
    fileKey = prev?.fileKey ?? randomBytes(32);
    recipients = [...opts.recipientNames].sort();
    wrapped = (await ageEncrypt(opts.recipients, fileKey)).toString('base64');
  }
  const keys = new FileKeys(fileKey);
  const old = new Map((prev?.values ?? []).map((v) => [pathKey(v.path), v]));
  const tokens: { path: Segment[]; token: ParsedToken }[] = [];
  doc.leaves().forEach((leaf, i) => {
    if (looksLikeToken(leaf.text)) throw new WardError('ERR_VALUEFILE_SYNTAX', `value at ${displayPath(leaf.path)} is already a WARD[…] token`);
    const plaintext = Buffer.from(leaf.text, 'utf8');
    const before = old.get(pathKey(leaf.path));
    const token = before !== undefined && before.type === leaf.type && before.plaintext.equals(plaintext) ? before.token : keys.seal(leaf.path, leaf.type, plaintext);
    plaintext.fill(0);
    doc.set(i, token, leaf.type);
    tokens.push({ path: leaf.path, token: parseToken(token, leaf.path) });
  });
  doc.setMeta({ version: VERSION, recipients, key: wrapped, mac: keys.mac(recipients, tokens).toString('base64') });
  if (prev === undefined) fileKey.fill(0);
}

/** Replaces every token by its plaintext and removes the reserved entry. */
export function revealDocument(doc: ValueDocument, opened: Opened): void {
  opened.values.forEach((v, i) => doc.set(i, v.plaintext.toString('utf8'), v.type));
  doc.setMeta(null);
}
