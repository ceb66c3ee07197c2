/**
 * age v1 encryption and decryption as transform-like objects (see stream.ts for the contract).
 *
 * Spec: C2SP age, https://c2sp.org/age (age-encryption.org/v1). A file is
 *
 *   header || nonce(16) || STREAM payload
 *   file key     = 16 random bytes, wrapped once per recipient into a stanza
 *   header MAC   = HMAC-SHA256(HKDF-SHA256(file key, salt = "", "header"), header through "---")
 *   payload key  = HKDF-SHA256(file key, salt = nonce, "payload")
 *
 * Decryption order (it decides the error class, as in the CCTV test kit): parse the header
 * (ERR_AGE_HEADER), reject a scrypt stanza that is not alone (ERR_AGE_HEADER), try each identity
 * in order (ERR_AGE_NO_IDENTITY_MATCH, or ERR_AGE_HEADER from an identity's own malformed stanza),
 * verify the MAC (ERR_AGE_HMAC_MISMATCH), read the nonce (ERR_AGE_HEADER), then the payload
 * (ERR_AGE_PAYLOAD). Armored input (ERR_AGE_ARMOR) is detected by its first non-blank byte.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WardError } from '../../errors.ts';
import { ArmorDecoder, ArmorEncoder, MAX_WHITESPACE } from './armor.ts';
import { parseHeader, serializeHeaderNoMac, MAX_HEADER, type Header, type Stanza } from './header.ts';
import { hkdf, hmac, secretKey } from './primitives.ts';
import { FILE_KEY_SIZE, SCRYPT_STANZA, type Identity, type Recipient } from './recipients.ts';
import { StreamDecryptor, StreamEncryptor, type Transformer } from './stream.ts';

const NONCE_SIZE = 16;
const EMPTY = Buffer.alloc(0);

function headerMac(fileKey: Buffer, headerNoMac: Buffer): Buffer {
  return hmac(hkdf(fileKey, EMPTY, 'header'), headerNoMac);
}

function payloadKey(fileKey: Buffer, nonce: Buffer) {
  return secretKey(hkdf(fileKey, nonce, 'payload'));
}

/** Applies `second` to everything `first` outputs. */
export function chain(first: Transformer, second: Transformer): Transformer {
  const tmp: Buffer[] = [];
  const feed = async (out: Buffer[]): Promise<void> => {
    try {
      for (const b of tmp) await second.push(b, out);
    } finally {
      tmp.length = 0;
    }
  };
  return {
    async push(data, out) {
      try {
        await first.push(data, tmp);
      } finally {
        await feed(out);
      }
    },
    async finish(out) {
      try {
        await first.finish(tmp);
      } finally {
        await feed(out);
      }
      await second.finish(out);
    },
  };
}

export interface EncryptOptions {
  /** Wrap the output in ASCII armor. */
  armor?: boolean;
}

/**
 * Returns a transformer that encrypts plaintext pushed into it to `recipients`.
 * @throws WardError ERR_AGE_RECIPIENT when no recipients are given or scrypt is not alone
 */
export async function createEncryptor(recipients: readonly Recipient[], options: EncryptOptions = {}): Promise<Transformer> {
  if (recipients.length === 0) throw new WardError('ERR_AGE_RECIPIENT', 'no recipients');
  const fileKey = randomBytes(FILE_KEY_SIZE);
  const stanzas: Stanza[] = [];
  for (const r of recipients) stanzas.push(...(await r.wrap(fileKey)));
  if (stanzas.some((s) => s.type === SCRYPT_STANZA) && stanzas.length !== 1) {
    throw new WardError('ERR_AGE_RECIPIENT', 'a passphrase cannot be combined with other recipients');
  }
  const noMac = serializeHeaderNoMac(stanzas);
  const nonce = randomBytes(NONCE_SIZE);
  const prefix = Buffer.concat([noMac, Buffer.from(` ${headerMac(fileKey, noMac).toString('base64').replace(/=+$/, '')}\n`), nonce]);
  const stream = new StreamEncryptor(payloadKey(fileKey, nonce));
  fileKey.fill(0);
  let started = false;
  const start = (out: Buffer[]): void => {
    if (!started) out.push(prefix);
    started = true;
  };
  const encryptor: Transformer = {
    push(data, out) {
      start(out);
      stream.push(data, out);
    },
    finish(out) {
      start(out);
      stream.finish(out);
    },
  };
  return options.armor ? chain(encryptor, new ArmorEncoder()) : encryptor;
}

/**
 * Opens a parsed header: finds the file key with the identities and checks the MAC.
 * @throws WardError ERR_AGE_HEADER, ERR_AGE_NO_IDENTITY_MATCH, ERR_AGE_HMAC_MISMATCH, ERR_AGE_SCRYPT_WORK_FACTOR
 */
export async function unwrapFileKey(header: Header, identities: readonly Identity[]): Promise<Buffer> {
  const { stanzas } = header;
  if (stanzas.some((s) => s.type === SCRYPT_STANZA) && stanzas.length !== 1) {
    throw new WardError('ERR_AGE_HEADER', 'invalid age header: a scrypt stanza must be the only stanza');
  }
  let fileKey: Buffer | null = null;
  for (const id of identities) {
    fileKey = await id.unwrap(stanzas);
    if (fileKey !== null) break;
  }
  if (fileKey === null) {
    const types = [...new Set(stanzas.map((s) => s.type))].map((t) => JSON.stringify(t.slice(0, 32))).join(', ');
    throw new WardError('ERR_AGE_NO_IDENTITY_MATCH', `no identity matched any of the file's recipients (stanza types: ${types})`);
  }
  if (fileKey.length !== FILE_KEY_SIZE) throw new WardError('ERR_AGE_HEADER', 'invalid age header: file key has the wrong size');
  if (!timingSafeEqual(headerMac(fileKey, header.headerNoMac), header.mac)) {
    throw new WardError('ERR_AGE_HMAC_MISMATCH', 'header MAC does not verify: the header was tampered with');
  }
  return fileKey;
}

export interface DecryptOptions {
  /** true: input is armored; false: binary; 'auto' (default): detect by the first non-blank byte. */
  armor?: boolean | 'auto';
}

/** The binary decryptor: header, nonce, then STREAM. */
class BinaryDecryptor implements Transformer {
  readonly #identities: readonly Identity[];
  // Phases: header bytes (until parsed), then nonce bytes (until 16), then STREAM.
  #headerBytes: Buffer | null = Buffer.alloc(0);
  #fileKey: Buffer | null = null;
  #nonce: Buffer | null = Buffer.alloc(0);
  #stream: StreamDecryptor | null = null;

  constructor(identities: readonly Identity[]) {
    this.#identities = identities;
  }

  async push(data: Buffer, out: Buffer[]): Promise<void> {
    if (this.#headerBytes !== null) {
      // Header bytes are few: keep them, re-parse only when a new line may have ended.
      this.#headerBytes = Buffer.concat([this.#headerBytes, data]);
      if (data.indexOf(0x0a) < 0 && this.#headerBytes.length <= MAX_HEADER) return;
      const parsed = parseHeader(this.#headerBytes);
      if (parsed === null) return;
      const rest = this.#headerBytes.subarray(parsed.length);
      this.#headerBytes = null;
      this.#fileKey = await unwrapFileKey(parsed.header, this.#identities);
      data = Buffer.from(rest);
    }
    if (this.#nonce !== null) {
      const need = NONCE_SIZE - this.#nonce.length;
      this.#nonce = Buffer.concat([this.#nonce, data.subarray(0, need)]);
      data = data.subarray(need);
      if (this.#nonce.length < NONCE_SIZE) return;
      this.#stream = new StreamDecryptor(payloadKey(this.#fileKey!, this.#nonce));
      this.#fileKey!.fill(0);
      this.#nonce = null;
    }
    this.#stream!.push(data, out);
  }

  async finish(out: Buffer[]): Promise<void> {
    if (this.#headerBytes !== null) {
      if (parseHeader(this.#headerBytes) === null) throw new WardError('ERR_AGE_HEADER', this.#headerBytes.length === 0 ? 'invalid age header: empty file' : 'invalid age header: file ends inside the header');
    }
    if (this.#nonce !== null) throw new WardError('ERR_AGE_HEADER', 'invalid age header: file ends before the payload nonce');
    this.#stream!.finish(out);
  }
}

/** Chooses armor or binary from the first non-whitespace byte. */
class AutoDecryptor implements Transformer {
  readonly #identities: readonly Identity[];
  #held: Buffer[] = [];
  #heldLength = 0;
  #inner: Transformer | null = null;

  constructor(identities: readonly Identity[]) {
    this.#identities = identities;
  }

  #choose(armored: boolean): Transformer {
    const binary = new BinaryDecryptor(this.#identities);
    return armored ? chain(new ArmorDecoder(), binary) : binary;
  }

  async push(data: Buffer, out: Buffer[]): Promise<void> {
    if (this.#inner === null) {
      let i = 0;
      while (i < data.length && (data[i] === 0x20 || data[i] === 0x09 || data[i] === 0x0a || data[i] === 0x0d)) i++;
      if (i === data.length && this.#heldLength + data.length <= MAX_WHITESPACE) {
        this.#held.push(Buffer.from(data));
        this.#heldLength += data.length;
        return;
      }
      this.#inner = this.#choose(data[i] === 0x2d); // '-' starts "-----BEGIN"
      for (const b of this.#held) await this.#inner.push(b, out);
      this.#held = [];
    }
    await this.#inner.push(data, out);
  }

  async finish(out: Buffer[]): Promise<void> {
    if (this.#inner === null) {
      this.#inner = this.#choose(false);
      for (const b of this.#held) await this.#inner.push(b, out);
    }
    await this.#inner.finish(out);
  }
}

/**
 * Returns a transformer that decrypts an age file pushed into it. Plaintext is output only
 * chunk by chunk after each chunk authenticated.
 * @throws WardError ERR_AGE_ARMOR, ERR_AGE_HEADER, ERR_AGE_NO_IDENTITY_MATCH, ERR_AGE_HMAC_MISMATCH,
 *   ERR_AGE_PAYLOAD, ERR_AGE_SCRYPT_WORK_FACTOR (from push/finish)
 */
export function createDecryptor(identities: readonly Identity[], options: DecryptOptions = {}): Transformer {
  if (identities.length === 0) throw new TypeError('no identities');
  const armor = options.armor ?? 'auto';
  if (armor === 'auto') return new AutoDecryptor(identities);
  const binary = new BinaryDecryptor(identities);
  return armor ? chain(new ArmorDecoder(), binary) : binary;
}

/** Runs `t` over a whole buffer (small inputs and tests). */
export async function transformBuffer(t: Transformer, input: Uint8Array): Promise<Buffer> {
  const out: Buffer[] = [];
  await t.push(Buffer.from(input.buffer, input.byteOffset, input.byteLength), out);
  await t.finish(out);
  return Buffer.concat(out);
}

export async function encrypt(recipients: readonly Recipient[], plaintext: Uint8Array, options: EncryptOptions = {}): Promise<Buffer> {
  return transformBuffer(await createEncryptor(recipients, options), plaintext);
}

export async function decrypt(identities: readonly Identity[], ciphertext: Uint8Array, options: DecryptOptions = {}): Promise<Buffer> {
  return transformBuffer(createDecryptor(identities, options), ciphertext);
}
