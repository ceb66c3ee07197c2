/**
 * The mlkem768x25519 post-quantum hybrid recipient type (age v1.3, `age1pq1…` /
 * `AGE-SECRET-KEY-PQ-1…`).
 *
 * Spec: C2SP age, https://c2sp.org/age, "mlkem768x25519 recipient type", which is HPKE (RFC 9180,
 * base mode, HKDF-SHA256, ChaCha20-Poly1305) with the MLKEM768-X25519 KEM (X-Wing,
 * draft-connolly-cfrg-xwing-kem; KEM id 0x647a) and info "age-encryption.org/mlkem768x25519":
 *
 *   -> mlkem768x25519 base64(enc = ct_mlkem(1088) || ct_x25519(32))   body: sealed file key (32)
 *   identity seed(32) -> SHAKE256 -> ML-KEM-768 seed d||z (64) || X25519 scalar (32)
 *   shared secret = SHA3-256(ss_mlkem || ss_x25519 || ct_x25519 || pk_x25519 || "\.//^\")
 *
 * ML-KEM runs on node:crypto (OpenSSL 3.5). Same identity contract as recipients.ts.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, decapsulate, encapsulate, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { WardError } from '../../errors.ts';
import { bech32Decode, bech32Encode } from './bech32.ts';
import { decodeBase64Strict, encodeBase64NoPad } from './base64.ts';
import type { Stanza } from './header.ts';
import { rawPublicKey, x25519, x25519PrivateKey } from './primitives.ts';
import { FILE_KEY_SIZE, type Identity, type Recipient } from './recipients.ts';

export const HYBRID_STANZA = 'mlkem768x25519';
const LABEL = 'age-encryption.org/mlkem768x25519';
const XWING_LABEL = Buffer.from('5c2e2f2f5e5c', 'hex'); // "\.//^\"
const RECIPIENT_HRP = 'age1pq';
const IDENTITY_HRP = 'AGE-SECRET-KEY-PQ-';
const KEM_ID = 0x647a;
const MLKEM_PK = 1184;
const MLKEM_CT = 1088;
const ENC_SIZE = MLKEM_CT + 32;
const MLKEM_PKCS8_SEED_PREFIX = Buffer.from('3054020100300b060960864801650304040204428040', 'hex');
const MLKEM_SPKI_PREFIX = Buffer.from('308204b2300b0609608648016503040402038204a100', 'hex');

// RFC 9180 section 4 and 5.1, for the one suite age uses.
const SUITE_ID = Buffer.from([...Buffer.from('HPKE'), KEM_ID >> 8, KEM_ID & 0xff, 0x00, 0x01, 0x00, 0x03]);
const HPKE_V1 = Buffer.from('HPKE-v1');

function labeledExtract(salt: Buffer, label: string, ikm: Buffer): Buffer {
  return createHmac('sha256', salt.length > 0 ? salt : Buffer.alloc(32)).update(Buffer.concat([HPKE_V1, SUITE_ID, Buffer.from(label), ikm])).digest();
}

function labeledExpand(prk: Buffer, label: string, info: Buffer, length: number): Buffer {
  const labeledInfo = Buffer.concat([Buffer.from([length >> 8, length & 0xff]), HPKE_V1, SUITE_ID, Buffer.from(label), info]);
  return createHmac('sha256', prk).update(Buffer.concat([labeledInfo, Buffer.from([1])])).digest().subarray(0, length);
}

function hpkeContext(sharedSecret: Buffer): { key: Buffer; nonce: Buffer } {
  const empty = Buffer.alloc(0);
  const context = Buffer.concat([Buffer.from([0]), labeledExtract(empty, 'psk_id_hash', empty), labeledExtract(empty, 'info_hash', Buffer.from(LABEL))]);
  const secret = labeledExtract(sharedSecret, 'secret', empty);
  return { key: labeledExpand(secret, 'key', context, 32), nonce: labeledExpand(secret, 'base_nonce', context, 12) };
}

function combine(ssM: Buffer, ssX: Buffer, ctX: Buffer, pkX: Buffer): Buffer {
  return createHash('sha3-256').update(Buffer.concat([ssM, ssX, ctX, pkX, XWING_LABEL])).digest();
}

export class HybridRecipient implements Recipient {
  readonly #mlkem: KeyObject;
  readonly #x25519: Buffer;
  readonly encoded: Buffer;

  constructor(encoded: Uint8Array) {
    if (encoded.length !== MLKEM_PK + 32) throw new TypeError('mlkem768x25519 public key must be 1216 bytes');
    this.encoded = Buffer.from(encoded);
    this.#mlkem = createPublicKey({ key: Buffer.concat([MLKEM_SPKI_PREFIX, this.encoded.subarray(0, MLKEM_PK)]), format: 'der', type: 'spki' });
    this.#x25519 = this.encoded.subarray(MLKEM_PK);
  }

  /** @throws WardError ERR_AGE_RECIPIENT */
  static parse(s: string): HybridRecipient {
    const d = bech32Decode(s);
    if (d === null || d.hrp !== RECIPIENT_HRP || d.data.length !== MLKEM_PK + 32) {
      throw new WardError('ERR_AGE_RECIPIENT', `invalid recipient ${JSON.stringify(s.slice(0, 80))}`);
    }
    try {
      return new HybridRecipient(d.data);
    } catch {
      throw new WardError('ERR_AGE_RECIPIENT', 'invalid mlkem768x25519 recipient');
    }
  }

  toString(): string {
    return bech32Encode(RECIPIENT_HRP, this.encoded);
  }

  wrap(fileKey: Buffer): Stanza[] {
    const { sharedKey: ssM, ciphertext: ctM } = encapsulate(this.#mlkem);
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const ctX = rawPublicKey(publicKey);
    const ssX = x25519(privateKey, this.#x25519);
    if (ssX === null) throw new WardError('ERR_AGE_RECIPIENT', 'recipient is a low-order point');
    const { key, nonce } = hpkeContext(combine(ssM, ssX, ctX, this.#x25519));
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
    return [{ type: HYBRID_STANZA, args: [encodeBase64NoPad(Buffer.concat([ctM, ctX]))], body }];
  }
}

export class HybridIdentity implements Identity {
  readonly #seed: Buffer;
  readonly #mlkem: KeyObject;
  readonly #x25519: KeyObject;
  readonly #x25519Public: Buffer;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new TypeError('mlkem768x25519 seed must be 32 bytes');
    this.#seed = Buffer.from(seed);
    const expanded = createHash('shake256', { outputLength: 96 }).update(this.#seed).digest();
    this.#mlkem = createPrivateKey({ key: Buffer.concat([MLKEM_PKCS8_SEED_PREFIX, expanded.subarray(0, 64)]), format: 'der', type: 'pkcs8' });
    this.#x25519 = x25519PrivateKey(expanded.subarray(64));
    this.#x25519Public = rawPublicKey(createPublicKey(this.#x25519));
    expanded.fill(0);
  }

  static generate(): HybridIdentity {
    return new HybridIdentity(randomBytes(32));
  }

  /** @throws WardError ERR_AGE_IDENTITY (the message never contains the key) */
  static parse(s: string): HybridIdentity {
    const d = bech32Decode(s);
    if (d === null || d.hrp !== IDENTITY_HRP || d.data.length !== 32) throw new WardError('ERR_AGE_IDENTITY', 'invalid identity');
    return new HybridIdentity(d.data);
  }

  get recipient(): HybridRecipient {
    const pkM = rawSpki(createPublicKey(this.#mlkem));
    return new HybridRecipient(Buffer.concat([pkM, this.#x25519Public]));
  }

  toString(): string {
    return bech32Encode(IDENTITY_HRP, this.#seed);
  }

  unwrap(stanzas: readonly Stanza[]): Buffer | null {
    for (const s of stanzas) {
      if (s.type !== HYBRID_STANZA) continue;
      const bad = (m: string): WardError => new WardError('ERR_AGE_HEADER', `invalid age header: malformed ${HYBRID_STANZA} stanza: ${m}`);
      if (s.args.length !== 1) throw bad('wrong number of arguments');
      const enc = decodeBase64Strict(s.args[0]!);
      if (enc === null || enc.length !== ENC_SIZE) throw bad('invalid encapsulated key');
      if (s.body.length !== FILE_KEY_SIZE + 16) throw bad('invalid body size');
      const ctM = enc.subarray(0, MLKEM_CT);
      const ctX = enc.subarray(MLKEM_CT);
      const ssX = x25519(this.#x25519, ctX);
      if (ssX === null) throw bad('low-order X25519 share');
      const ssM = decapsulate(this.#mlkem, ctM); // implicit rejection: a bad ct gives a wrong key
      const { key, nonce } = hpkeContext(combine(ssM, ssX, ctX, this.#x25519Public));
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAuthTag(s.body.subarray(FILE_KEY_SIZE));
      const fileKey = d.update(s.body.subarray(0, FILE_KEY_SIZE));
      try {
        d.final();
        return fileKey;
      } catch {
        continue;
      }
    }
    return null;
  }
}

function rawSpki(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(MLKEM_SPKI_PREFIX.length);
}

