/**
 * The `passphrase` and `shamir` key providers: the master key lives on disk only sealed
 * (AES-256-GCM) under a sealing key that is never stored. The provider starts sealed and holds
 * the master key in memory only between unseal and seal.
 *
 * - `passphrase`: sealing key = scrypt(passphrase, salt, N = 2^17 by default, r = 8, p = 1).
 * - `shamir`: sealing key = 32 random bytes split into N printable shares, any M of which
 *   unseal (src/keys/shamir.ts, src/keys/shares.ts). M-1 shares reveal nothing about it.
 *
 * Sealed key file, version 1 (docs/formats.md, "Sealed master key"):
 *
 *   "WARDSKEY" ‖ u8 version (1) ‖ u8 method (1 passphrase, 2 shamir) ‖ parameters
 *     passphrase: u8 log2(N) ‖ u8 r ‖ u8 p ‖ salt (16)
 *     shamir:     u8 threshold ‖ u8 shares ‖ set id (4)
 *   ‖ u8 key id length (1..64) ‖ key id (printable ASCII)
 *   ‖ nonce (12) ‖ AES-256-GCM ciphertext of the master key (32) ‖ tag (16)
 *
 * The associated data of the seal is every byte before the nonce, so no header field can be
 * changed without the tag noticing. No trailing bytes are accepted.
 */
import { randomBytes, scrypt } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { KEY_BYTES, newKey, openAesGcm, SEAL_OVERHEAD, sealAesGcm } from '../crypto/aead.ts';
import { WardError } from '../errors.ts';
import { keyIdFor, memoryKey } from './file.ts';
import type { KeyProvider, UnsealProgress } from './provider.ts';
import { combine, split } from './shamir.ts';
import { decodeShare, encodeShare, SET_ID_BYTES, type EncodedShare } from './shares.ts';

const MAGIC = Buffer.from('WARDSKEY');
const VERSION = 1;
const METHOD = { passphrase: 1, shamir: 2 } as const;
type Method = keyof typeof METHOD;
const SALT_BYTES = 16;
/** Default scrypt cost for new sealed keys: N = 2^17 (~0.35 s and 128 MiB here). */
export const DEFAULT_SCRYPT_LOG_N = 17;
/** Bounds accepted when reading (and, but for tests, writing) a sealed key file. */
const MIN_SCRYPT_LOG_N = 10;
const MAX_SCRYPT_LOG_N = 22;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const MAX_FILE_BYTES = 256;

type Params =
  | { method: 'passphrase'; logN: number; r: number; p: number; salt: Buffer }
  | { method: 'shamir'; threshold: number; shares: number; setId: Buffer };

export interface SealedKeyFile {
  params: Params;
  keyId: string;
  /** The header bytes: the associated data of the seal. */
  header: Buffer;
  sealed: Buffer;
}

function serializeHeader(params: Params, keyId: string): Buffer {
  const id = Buffer.from(keyId, 'ascii');
  if (id.length < 1 || id.length > 64 || !/^[\x21-\x7e]+$/.test(keyId)) throw new TypeError('key id must be 1..64 printable ASCII characters');
  const p =
    params.method === 'passphrase'
      ? Buffer.concat([Buffer.of(params.logN, params.r, params.p), params.salt])
      : Buffer.concat([Buffer.of(params.threshold, params.shares), params.setId]);
  return Buffer.concat([MAGIC, Buffer.of(VERSION, METHOD[params.method]), p, Buffer.of(id.length), id]);
}

/**
 * Parses a sealed key file, strictly.
 * @throws WardError ERR_KEY_INVALID
 */
export function parseSealedKey(bytes: Buffer): SealedKeyFile {
  const invalid = (what: string) => new WardError('ERR_KEY_INVALID', `not a valid sealed master key file: ${what}`);
  if (bytes.length < MAGIC.length + 2 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid('bad magic');
  let off = MAGIC.length;
  if (bytes[off++] !== VERSION) throw invalid(`unknown version ${bytes[off - 1]}`);
  const method = bytes[off++];
  let params: Params;
  if (method === METHOD.passphrase) {
    if (bytes.length < off + 3 + SALT_BYTES) throw invalid('truncated');
    const [logN, r, p] = [bytes[off]!, bytes[off + 1]!, bytes[off + 2]!];
    if (logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N || r !== SCRYPT_R || p !== SCRYPT_P) throw invalid(`unsupported scrypt parameters (log2 N ${logN}, r ${r}, p ${p})`);
    params = { method: 'passphrase', logN, r, p, salt: Buffer.from(bytes.subarray(off + 3, off + 3 + SALT_BYTES)) };
    off += 3 + SALT_BYTES;
  } else if (method === METHOD.shamir) {
    if (bytes.length < off + 2 + SET_ID_BYTES) throw invalid('truncated');
    const [threshold, shares] = [bytes[off]!, bytes[off + 1]!];
    if (threshold < 1 || shares < threshold) throw invalid(`bad threshold ${threshold} of ${shares}`);
    params = { method: 'shamir', threshold, shares, setId: Buffer.from(bytes.subarray(off + 2, off + 2 + SET_ID_BYTES)) };
    off += 2 + SET_ID_BYTES;
  } else {
    throw invalid(`unknown method ${method}`);
  }
  const idLength = bytes[off++];
  if (idLength === undefined || idLength < 1 || idLength > 64) throw invalid('bad key id length');
  const keyId = bytes.subarray(off, off + idLength).toString('latin1');
  if (keyId.length !== idLength || !/^[\x21-\x7e]+$/.test(keyId)) throw invalid('bad key id');
  off += idLength;
  if (bytes.length !== off + KEY_BYTES + SEAL_OVERHEAD) throw invalid(bytes.length < off + KEY_BYTES + SEAL_OVERHEAD ? 'truncated' : 'trailing data');
  return { params, keyId, header: Buffer.from(bytes.subarray(0, off)), sealed: Buffer.from(bytes.subarray(off)) };
}

export function serializeSealedKey(file: SealedKeyFile): Buffer {
  return Buffer.concat([file.header, file.sealed]);
}

function sealKey(params: Params, keyId: string, masterKey: Buffer, sealingKey: Buffer): Buffer {
  const header = serializeHeader(params, keyId);
  return Buffer.concat([header, sealAesGcm(sealingKey, masterKey, header)]);
}

function scryptKey(passphrase: Buffer, params: Extract<Params, { method: 'passphrase' }>): Promise<Buffer> {
  const N = 2 ** params.logN;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, params.salt, KEY_BYTES, { N, r: params.r, p: params.p, maxmem: 256 * N * params.r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** An existing master key to seal instead of a fresh one (e.g. moving from `file`), with its id. */
export interface ExistingKey {
  key: Buffer;
  keyId: string;
}

function masterFor(kind: Method, existing: ExistingKey | undefined): ExistingKey {
  if (existing) return { key: Buffer.from(existing.key), keyId: existing.keyId };
  const key = newKey();
  return { key, keyId: keyIdFor(kind, key) };
}

/**
 * Makes a sealed key file for the `passphrase` provider. `scryptLogN` below 17 is for tests.
 * @returns the file's bytes (write them with {@link writeSealedKey}) and the master key id
 */
export async function initPassphrase(options: { passphrase: Buffer; scryptLogN?: number; existing?: ExistingKey }): Promise<{ sealedKey: Buffer; keyId: string }> {
  const logN = options.scryptLogN ?? DEFAULT_SCRYPT_LOG_N;
  if (!Number.isInteger(logN) || logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) throw new TypeError(`scryptLogN must be ${MIN_SCRYPT_LOG_N}..${MAX_SCRYPT_LOG_N}`);
  if (options.passphrase.length === 0) throw new WardError('ERR_PASSPHRASE', 'the passphrase is empty');
  const params = { method: 'passphrase', logN, r: SCRYPT_R, p: SCRYPT_P, salt: randomBytes(SALT_BYTES) } as const;
  const master = masterFor('passphrase', options.existing);
  const sealingKey = await scryptKey(options.passphrase, params);
  try {
    return { sealedKey: sealKey(params, master.keyId, master.key, sealingKey), keyId: master.keyId };
  } finally {
    sealingKey.fill(0);
    master.key.fill(0);
  }
}

/**
 * Makes a sealed key file for the `shamir` provider and the `shares` printable shares, any
 * `threshold` of which unseal it. Hand each share to a different person; none is stored.
 */
export function initShamir(options: { shares: number; threshold: number; existing?: ExistingKey }): { sealedKey: Buffer; shares: string[]; keyId: string } {
  const { shares: n, threshold } = options;
  if (!Number.isInteger(threshold) || threshold < 1 || !Number.isInteger(n) || n < threshold || n > 255) {
    throw new WardError('ERR_USAGE', `need 1 <= threshold <= shares <= 255, not ${threshold} of ${n}`);
  }
  const setId = randomBytes(SET_ID_BYTES);
  const master = masterFor('shamir', options.existing);
  const sealingKey = newKey();
  try {
    const sealedKey = sealKey({ method: 'shamir', threshold, shares: n, setId }, master.keyId, master.key, sealingKey);
    const parts = split(sealingKey, n, threshold);
    const shares = parts.map((s) => encodeShare({ ...s, setId, threshold }));
    for (const s of parts) s.value.fill(0);
    return { sealedKey, shares, keyId: master.keyId };
  } finally {
    sealingKey.fill(0);
    master.key.fill(0);
  }
}

/**
 * Writes a sealed key file (mode 0600); never overwrites.
 * @throws WardError ERR_EXISTS, ERR_IO
 */
export function writeSealedKey(path: string, sealedKey: Buffer): void {
  try {
    writeFileSync(path, sealedKey, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new WardError('ERR_EXISTS', `sealed key file ${path} already exists`, { hint: 'a master key is never overwritten; move the old one away first if you really mean it' });
    }
    throw new WardError('ERR_IO', `cannot write sealed key file ${path}`, { cause: e });
  }
}

function readSealedKey(path: string, method: Method): SealedKeyFile {
  let bytes: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      // sealed, but a readable copy invites offline passphrase guessing: same rule as master.key
      if ((st.mode & 0o077) !== 0) {
        throw new WardError('ERR_KEY_INSECURE_PERMISSIONS', `sealed key file ${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)})`, { hint: `chmod 600 ${path}` });
      }
      if (st.size > MAX_FILE_BYTES) throw new WardError('ERR_KEY_INVALID', `sealed key file ${path} is too large`);
      bytes = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof WardError) throw e;
    throw new WardError('ERR_KEY_NOT_FOUND', `cannot open sealed master key file ${path}`, { cause: e, hint: 'check [keys] path in ward.toml' });
  }
  const file = parseSealedKey(bytes);
  if (file.params.method !== method) {
    throw new WardError('ERR_KEY_INVALID', `${path} is sealed for the ${file.params.method} provider, not ${method}`, { hint: `set [keys] provider = "${file.params.method}"` });
  }
  return file;
}

/** Opens the seal with a candidate sealing key; undefined when the tag does not verify. */
function tryOpen(file: SealedKeyFile, sealingKey: Buffer): Buffer | undefined {
  try {
    return openAesGcm(sealingKey, file.sealed, file.header);
  } catch (e) {
    if (e instanceof WardError && e.code === 'ERR_CRYPTO_AUTH') return undefined;
    throw e;
  } finally {
    sealingKey.fill(0);
  }
}

/**
 * Opens a sealed key file offline, for re-sealing the same master key (same key id) another way:
 * a new passphrase, a new split, or passphrase <-> shamir. Pass the result as `existing` to
 * {@link initPassphrase} or {@link initShamir}, then zero `key`.
 * @throws WardError ERR_KEY_INVALID, ERR_KEY_WRONG_PASSPHRASE, ERR_SHAMIR_*
 */
export async function openSealedKey(sealedKey: Buffer, secret: { passphrase: Buffer } | { shares: string[] }): Promise<ExistingKey> {
  const file = parseSealedKey(sealedKey);
  const { params } = file;
  let key: Buffer | undefined;
  if (params.method === 'passphrase') {
    if (!('passphrase' in secret)) throw new TypeError('this sealed key opens with a passphrase');
    key = tryOpen(file, await scryptKey(secret.passphrase, params));
    if (!key) throw new WardError('ERR_KEY_WRONG_PASSPHRASE', 'wrong passphrase');
  } else {
    if (!('shares' in secret)) throw new TypeError('this sealed key opens with shares');
    const shares = secret.shares.map(decodeShare);
    const seen = new Set<number>();
    for (const s of shares) {
      if (!s.setId.equals(params.setId) || s.threshold !== params.threshold || s.index > params.shares) {
        throw new WardError('ERR_SHAMIR_SHARE_MISMATCH', `unseal share ${s.index} belongs to another sealed key`);
      }
      if (seen.has(s.index)) throw new WardError('ERR_SHAMIR_SHARE_DUPLICATE', `unseal share ${s.index} was given twice`);
      seen.add(s.index);
    }
    if (shares.length < params.threshold) throw new WardError('ERR_USAGE', `need ${params.threshold} shares, got ${shares.length}`);
    key = tryOpen(file, combine(shares));
    for (const s of shares) s.value.fill(0);
    if (!key) throw new WardError('ERR_SHAMIR_COMBINE_FAILED', 'the shares do not open the sealed master key: at least one is wrong');
  }
  return { key, keyId: file.keyId };
}

export interface PassphraseKeyProvider extends KeyProvider {
  /**
   * Unseals with the passphrase (the caller zeroes it).
   * @throws WardError ERR_KEY_WRONG_PASSPHRASE (and stays sealed)
   */
  unseal(passphrase?: Buffer): Promise<UnsealProgress>;
}

/**
 * Opens the `passphrase` provider over a sealed key file. It starts sealed.
 * @throws WardError ERR_KEY_NOT_FOUND, ERR_KEY_INVALID, ERR_KEY_INSECURE_PERMISSIONS
 */
export function openPassphraseKeyProvider(path: string): PassphraseKeyProvider {
  const file = readSealedKey(path, 'passphrase');
  const params = file.params as Extract<Params, { method: 'passphrase' }>;
  const mk = memoryKey(file.keyId);
  const progress = () => ({ sealed: !mk.loaded, have: mk.loaded ? 1 : 0, need: 1 });
  let closed = false;
  return {
    kind: 'passphrase',
    keyId: file.keyId,
    get sealed() {
      return !mk.loaded;
    },
    wrap: mk.wrap,
    unwrap: mk.unwrap,
    seal: mk.drop,
    async unseal(passphrase) {
      if (closed) throw new WardError('ERR_KEY_SEALED', 'the key provider is closed');
      if (mk.loaded) return progress();
      if (!passphrase || passphrase.length === 0) throw new WardError('ERR_PASSPHRASE', 'unsealing needs the passphrase');
      const key = tryOpen(file, await scryptKey(passphrase, params));
      if (!key) throw new WardError('ERR_KEY_WRONG_PASSPHRASE', 'wrong passphrase: the master key stays sealed');
      if (!closed) mk.load(key);
      key.fill(0);
      return progress();
    },
    close() {
      closed = true;
      mk.drop();
    },
  };
}

export interface ShamirKeyProvider extends KeyProvider {
  /**
   * Adds one share (a `ward-share-v1-...` string). At `threshold` valid shares the provider
   * unseals; a combination that does not open the sealed key discards every pending share.
   * @throws WardError ERR_SHAMIR_SHARE_INVALID, ERR_SHAMIR_SHARE_MISMATCH, ERR_SHAMIR_SHARE_DUPLICATE, ERR_SHAMIR_COMBINE_FAILED
   */
  submitShare(share: string): Promise<UnsealProgress>;
  /** {@link submitShare} with the share as UTF-8 bytes. */
  unseal(share?: Buffer): Promise<UnsealProgress>;
}

/**
 * Opens the `shamir` provider over a sealed key file. It starts sealed.
 * @throws WardError ERR_KEY_NOT_FOUND, ERR_KEY_INVALID, ERR_KEY_INSECURE_PERMISSIONS
 */
export function openShamirKeyProvider(path: string): ShamirKeyProvider {
  const file = readSealedKey(path, 'shamir');
  const params = file.params as Extract<Params, { method: 'shamir' }>;
  const mk = memoryKey(file.keyId);
  let pending: EncodedShare[] = [];
  let closed = false;
  const forget = () => {
    for (const s of pending) s.value.fill(0);
    pending = [];
  };
  const progress = () => ({ sealed: !mk.loaded, have: mk.loaded ? params.threshold : pending.length, need: params.threshold });

  const submitShare = async (text: string): Promise<UnsealProgress> => {
    if (closed) throw new WardError('ERR_KEY_SEALED', 'the key provider is closed');
    if (mk.loaded) return progress();
    const share = decodeShare(text);
    if (!share.setId.equals(params.setId) || share.threshold !== params.threshold || share.index > params.shares) {
      share.value.fill(0);
      throw new WardError('ERR_SHAMIR_SHARE_MISMATCH', `unseal share ${share.index} belongs to another sealed key`, { hint: 'use the shares made with this deployment\'s sealed key file' });
    }
    if (pending.some((s) => s.index === share.index)) {
      share.value.fill(0);
      throw new WardError('ERR_SHAMIR_SHARE_DUPLICATE', `unseal share ${share.index} was already submitted`);
    }
    pending.push(share);
    if (pending.length < params.threshold) return progress();
    const key = tryOpen(file, combine(pending));
    forget();
    if (!key) {
      throw new WardError('ERR_SHAMIR_COMBINE_FAILED', 'the submitted shares do not open the sealed master key: at least one is wrong', {
        hint: 'every pending share was discarded; submit the shares again',
      });
    }
    mk.load(key);
    key.fill(0);
    return progress();
  };

  return {
    kind: 'shamir',
    keyId: file.keyId,
    get sealed() {
      return !mk.loaded;
    },
    wrap: mk.wrap,
    unwrap: mk.unwrap,
    seal() {
      forget();
      mk.drop();
    },
    submitShare,
    async unseal(share) {
      if (!share) return progress();
      return submitShare(share.toString('utf8'));
    },
    close() {
      closed = true;
      forget();
      mk.drop();
    },
  };
}
