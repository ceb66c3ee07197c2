/**
 * age v1 recipient types: X25519 and scrypt.
 *
 * Spec: C2SP age, https://c2sp.org/age, "X25519 recipient type" and "scrypt recipient type".
 *
 *   -> X25519 base64(ephemeral share, 32 bytes)       body: wrapped file key (32 bytes)
 *      wrap key = HKDF-SHA256(ikm = X25519(e, R), salt = share || R, "age-encryption.org/v1/X25519")
 *   -> scrypt base64(salt, 16 bytes) logN              body: wrapped file key (32 bytes)
 *      wrap key = scrypt(passphrase, "age-encryption.org/v1/scrypt" || salt, N = 2^logN, r = 8, p = 1)
 *
 * Identity contract (as typage's and Go age's): `unwrap` returns null when no stanza is its own or
 * none opens with its key, and throws ERR_AGE_HEADER only for a stanza of its own type that is
 * malformed. A scrypt stanza must be the only one (checked by the decryptor, see age.ts).
 * WARD: decryption refuses scrypt work factors above {@link MAX_SCRYPT_LOG_N} (22, as age's CLI:
 * 4 GiB of scrypt memory); encryption uses 18 by default, as age does.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, scrypt as scryptCb, type KeyObject } from 'node:crypto';
import { WardError } from '../../errors.ts';
import { bech32Decode, bech32Encode } from './bech32.ts';
import { decodeBase64Strict, encodeBase64NoPad } from './base64.ts';
import type { Stanza } from './header.ts';
import { hkdf, openOnce, rawPrivateKey, rawPublicKey, sealOnce, x25519, x25519PrivateKey } from './primitives.ts';

export const X25519_STANZA = 'X25519';
export const SCRYPT_STANZA = 'scrypt';
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'AGE-SECRET-KEY-';
export const FILE_KEY_SIZE = 16;
export const DEFAULT_SCRYPT_LOG_N = 18;
export const MAX_SCRYPT_LOG_N = 22;

export interface Recipient {
  /** Wraps the file key into one or more stanzas. */
  wrap(fileKey: Buffer): Stanza[] | Promise<Stanza[]>;
}

export interface Identity {
  /** The file key, or null when none of the stanzas is for this identity. */
  unwrap(stanzas: readonly Stanza[]): Buffer | null | Promise<Buffer | null>;
}

function stanzaError(type: string, message: string): WardError {
  return new WardError('ERR_AGE_HEADER', `invalid age header: malformed ${type} stanza: ${message}`);
}

export class X25519Recipient implements Recipient {
  readonly publicKey: Buffer;

  constructor(publicKey: Uint8Array) {
    if (publicKey.length !== 32) throw new TypeError('X25519 public key must be 32 bytes');
    this.publicKey = Buffer.from(publicKey);
  }

  /** @throws WardError ERR_AGE_RECIPIENT */
  static parse(s: string): X25519Recipient {
    const d = bech32Decode(s);
    if (d === null || d.hrp !== RECIPIENT_HRP || d.data.length !== 32) {
      throw new WardError('ERR_AGE_RECIPIENT', `invalid recipient ${JSON.stringify(s.slice(0, 80))}`, { hint: 'an age recipient looks like age1…' });
    }
    return new X25519Recipient(d.data);
  }

  toString(): string {
    return bech32Encode(RECIPIENT_HRP, this.publicKey);
  }

  wrap(fileKey: Buffer): Stanza[] {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const share = rawPublicKey(publicKey);
    const shared = x25519(privateKey, this.publicKey);
    if (shared === null) throw new WardError('ERR_AGE_RECIPIENT', 'recipient is a low-order point');
    const key = hkdf(shared, Buffer.concat([share, this.publicKey]), X25519_LABEL);
    return [{ type: X25519_STANZA, args: [encodeBase64NoPad(share)], body: sealOnce(key, fileKey) }];
  }
}


export class X25519Identity implements Identity {
  readonly #privateKey: KeyObject;
  readonly #publicKey: Buffer;

  constructor(privateKey: Uint8Array) {
    if (privateKey.length !== 32) throw new TypeError('X25519 private key must be 32 bytes');
    this.#privateKey = x25519PrivateKey(privateKey);
    this.#publicKey = rawPublicKey(createPublicKey(this.#privateKey));
  }

  static generate(): X25519Identity {
    const { privateKey } = generateKeyPairSync('x25519');
    return new X25519Identity(rawPrivateKey(privateKey));
  }

  /** @throws WardError ERR_AGE_IDENTITY (the message never contains the key) */
  static parse(s: string): X25519Identity {
    const d = bech32Decode(s);
    if (d === null || d.hrp !== IDENTITY_HRP || d.data.length !== 32) {
      throw new WardError('ERR_AGE_IDENTITY', 'invalid identity', { hint: 'an age identity looks like AGE-SECRET-KEY-1…' });
    }
    return new X25519Identity(d.data);
  }

  get recipient(): X25519Recipient {
    return new X25519Recipient(this.#publicKey);
  }

  toString(): string {
    return bech32Encode(IDENTITY_HRP, rawPrivateKey(this.#privateKey));
  }

  unwrap(stanzas: readonly Stanza[]): Buffer | null {
    for (const s of stanzas) {
      if (s.type !== X25519_STANZA) continue;
      if (s.args.length !== 1) throw stanzaError(s.type, 'wrong number of arguments');
      const share = decodeBase64Strict(s.args[0]!);
      if (share === null || share.length !== 32) throw stanzaError(s.type, 'invalid ephemeral share');
      if (s.body.length !== FILE_KEY_SIZE + 16) throw stanzaError(s.type, 'invalid body size');
      const shared = x25519(this.#privateKey, share);
      if (shared === null) throw stanzaError(s.type, 'low-order ephemeral share');
      const key = hkdf(shared, Buffer.concat([share, this.#publicKey]), X25519_LABEL);
      const fileKey = openOnce(key, s.body);
      if (fileKey !== null) return fileKey;
    }
    return null;
  }
}

function scryptKey(passphrase: Buffer, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scryptCb(passphrase, Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), 32, { N, r: 8, p: 1, maxmem: 128 * 8 * N + 32 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export class ScryptRecipient implements Recipient {
  readonly #passphrase: Buffer;
  readonly #logN: number;

  constructor(passphrase: Uint8Array, logN = DEFAULT_SCRYPT_LOG_N) {
    if (!Number.isInteger(logN) || logN < 1 || logN > 30) throw new TypeError('scrypt logN must be an integer in 1..30');
    if (passphrase.length === 0) throw new TypeError('empty passphrase');
    this.#passphrase = Buffer.from(passphrase);
    this.#logN = logN;
  }

  async wrap(fileKey: Buffer): Promise<Stanza[]> {
    const salt = randomBytes(16);
    const key = await scryptKey(this.#passphrase, salt, this.#logN);
    return [{ type: SCRYPT_STANZA, args: [encodeBase64NoPad(salt), String(this.#logN)], body: sealOnce(key, fileKey) }];
  }
}

export type PassphraseSource = Uint8Array | (() => Promise<Uint8Array>);

export class ScryptIdentity implements Identity {
  readonly #passphrase: PassphraseSource;
  readonly #maxLogN: number;

  /** `passphrase` may be a function, called only when the header has a scrypt stanza. */
  constructor(passphrase: PassphraseSource, maxLogN = MAX_SCRYPT_LOG_N) {
    this.#passphrase = passphrase;
    this.#maxLogN = maxLogN;
  }

  async unwrap(stanzas: readonly Stanza[]): Promise<Buffer | null> {
    for (const s of stanzas) {
      if (s.type !== SCRYPT_STANZA) continue;
      if (s.args.length !== 2) throw stanzaError(s.type, 'wrong number of arguments');
      const salt = decodeBase64Strict(s.args[0]!);
      if (salt === null || salt.length !== 16) throw stanzaError(s.type, 'invalid salt');
      const w = s.args[1]!;
      if (!/^[1-9][0-9]*$/.test(w)) throw stanzaError(s.type, 'invalid work factor');
      const logN = Number(w);
      if (logN > this.#maxLogN) {
        throw new WardError('ERR_AGE_SCRYPT_WORK_FACTOR', `scrypt work factor ${w.slice(0, 10)} is above the maximum ${this.#maxLogN}`);
      }
      if (s.body.length !== FILE_KEY_SIZE + 16) throw stanzaError(s.type, 'invalid body size');
      const pass = typeof this.#passphrase === 'function' ? await this.#passphrase() : this.#passphrase;
      const key = await scryptKey(Buffer.from(pass.buffer, pass.byteOffset, pass.byteLength), salt, logN);
      const fileKey = openOnce(key, s.body);
      key.fill(0);
      if (fileKey !== null) return fileKey;
    }
    return null;
  }
}
