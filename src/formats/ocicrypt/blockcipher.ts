/**
 * The ocicrypt layer cipher AES_256_CTR_HMAC_SHA256 (ocicrypt blockcipher/blockcipher_aes_ctr.go
 * at c3436fd), streaming.
 *
 *   symkey  = 32 random bytes            nonce = 16 random bytes (the whole initial CTR block)
 *   blob    = AES-256-CTR(symkey, nonce, plaintext)          (same length as the plaintext)
 *   hmac    = HMAC-SHA256(symkey, blob)                       (encrypt-then-MAC, over the ciphertext)
 *   private options (wrapped for each recipient) = {"symkey":b64,"digest":"sha256:…","cipheroptions":{"nonce":b64}}
 *   public options  (annotation …enc.pubopts)   = {"cipher":"AES_256_CTR_HMAC_SHA256","hmac":b64,"cipheroptions":{}}
 *
 * JSON byte strings are standard base64 with padding (Go's encoding/json for []byte). Decryption
 * emits plaintext before the HMAC is checked at the end of the stream (as ocicrypt does), so a
 * consumer must not publish the output until `final()` has returned without error.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Hmac, KeyObject, Cipheriv, Decipheriv } from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { WardError } from '../../errors.ts';

export const AES_256_CTR_HMAC_SHA256 = 'AES_256_CTR_HMAC_SHA256';
const KEY_SIZE = 32;
const NONCE_SIZE = 16;
const HMAC_SIZE = 32;

export interface PrivateOptions {
  symkey: Buffer;
  /** Digest of the plaintext blob, `sha256:<hex>`. */
  digest: string;
  cipheroptions: Record<string, Buffer>;
}

export interface PublicOptions {
  cipher: string;
  hmac: Buffer;
  cipheroptions: Record<string, Buffer>;
}

const formatError = (what: string) => new WardError('ERR_OCICRYPT_FORMAT', `invalid ocicrypt ${what}`);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (Go's encoding/json []byte form). */
export function decodeBase64(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !B64.test(s)) throw formatError(what);
  return Buffer.from(s, 'base64');
}

function bytesMap(v: unknown, what: string): Record<string, Buffer> {
  if (v === null || v === undefined) return {};
  if (!isPlainObject(v)) throw formatError(what);
  return Object.fromEntries(Object.entries(v).map(([k, b]) => [k, decodeBase64(b, what)]));
}

function encodeMap(m: Record<string, Buffer>): Record<string, string> {
  // Go's encoding/json writes map keys sorted.
  return Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]!.toString('base64')]));
}

function parseJsonObject(data: Buffer | string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    throw formatError(what);
  }
  if (!isPlainObject(v)) throw formatError(what);
  return v;
}

export function serializePrivateOptions(p: PrivateOptions): Buffer {
  return Buffer.from(JSON.stringify({ symkey: p.symkey.toString('base64'), digest: p.digest, cipheroptions: encodeMap(p.cipheroptions) }));
}

export function parsePrivateOptions(data: Buffer): PrivateOptions {
  const o = parseJsonObject(data, 'private layer options');
  if (typeof o.digest !== 'string') throw formatError('private layer options');
  return { symkey: decodeBase64(o.symkey, 'private layer options'), digest: o.digest, cipheroptions: bytesMap(o.cipheroptions, 'private layer options') };
}

export function serializePublicOptions(p: PublicOptions): Buffer {
  return Buffer.from(JSON.stringify({ cipher: p.cipher, hmac: p.hmac.toString('base64'), cipheroptions: encodeMap(p.cipheroptions) }));
}

export function parsePublicOptions(data: Buffer): PublicOptions {
  const o = parseJsonObject(data, 'public layer options');
  if (typeof o.cipher !== 'string') throw formatError('public layer options');
  return { cipher: o.cipher, hmac: decodeBase64(o.hmac ?? '', 'public layer options'), cipheroptions: bytesMap(o.cipheroptions, 'public layer options') };
}

/**
 * A synchronous stream stage: `update` maps each chunk (the input may be a reused buffer, so a
 * stage must not keep it), `final` ends the stream and throws when the data was bad. Driving the
 * stages directly from a loop, rather than through Node streams, keeps memory flat: see
 * bench/image and docs/images.md.
 */
export interface Stage {
  update(chunk: Buffer): Buffer;
  final(): Buffer | undefined;
}

/** Wraps stages as one Transform stream (for stream users and tests). */
export function stageTransform(...stages: Stage[]): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        let c = chunk;
        for (const s of stages) c = s.update(c);
        cb(null, c);
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        for (const [i, s] of stages.entries()) {
          let c = s.final();
          for (const next of stages.slice(i + 1)) if (c?.length) c = next.update(c);
          if (c?.length) this.push(c);
        }
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}

/** Encrypts a layer; `options()` is valid once `final()` has run. */
export class LayerEncryptor implements Stage {
  readonly #symkey: Buffer;
  readonly #nonce: Buffer;
  readonly #cipher: Cipheriv;
  readonly #hmac: Hmac;
  readonly #plainDigest: string;
  #mac: Buffer | undefined;

  /** @param plainDigest the digest of the plaintext blob, recorded in the private options */
  constructor(plainDigest: string) {
    this.#plainDigest = plainDigest;
    this.#symkey = randomBytes(KEY_SIZE);
    this.#nonce = randomBytes(NONCE_SIZE);
    const key: KeyObject = createSecretKey(this.#symkey);
    this.#cipher = createCipheriv('aes-256-ctr', key, this.#nonce);
    this.#hmac = createHmac('sha256', key);
  }

  update(chunk: Buffer): Buffer {
    const out = this.#cipher.update(chunk);
    this.#hmac.update(out);
    return out;
  }

  final(): Buffer | undefined {
    const rest = this.#cipher.final();
    if (rest.length) this.#hmac.update(rest);
    this.#mac = this.#hmac.digest();
    return rest.length ? rest : undefined;
  }

  /** The private and public options of the finished layer. */
  options(): { priv: PrivateOptions; pub: PublicOptions } {
    if (!this.#mac) throw new TypeError('LayerEncryptor.options() called before final()');
    return {
      priv: { symkey: this.#symkey, digest: this.#plainDigest, cipheroptions: { nonce: this.#nonce } },
      pub: { cipher: AES_256_CTR_HMAC_SHA256, hmac: this.#mac, cipheroptions: {} },
    };
  }
}

/**
 * Decrypts a layer; `final()` fails with ERR_OCICRYPT_HMAC_MISMATCH when the ciphertext is not
 * what was encrypted (tampered, truncated or extended).
 */
export class LayerDecryptor implements Stage {
  readonly #decipher: Decipheriv;
  readonly #hmac: Hmac;
  readonly #expected: Buffer;

  constructor(priv: PrivateOptions, pub: PublicOptions) {
    if (pub.cipher !== AES_256_CTR_HMAC_SHA256) {
      throw new WardError('ERR_OCICRYPT_UNSUPPORTED', `unsupported layer cipher ${JSON.stringify(pub.cipher)}`);
    }
    const nonce = pub.cipheroptions.nonce ?? priv.cipheroptions.nonce;
    if (priv.symkey.length !== KEY_SIZE || !nonce || nonce.length !== NONCE_SIZE) throw formatError('layer cipher options');
    if (pub.hmac.length !== HMAC_SIZE) throw formatError('layer hmac');
    const key = createSecretKey(priv.symkey);
    this.#decipher = createDecipheriv('aes-256-ctr', key, nonce);
    this.#hmac = createHmac('sha256', key);
    this.#expected = pub.hmac;
  }

  update(chunk: Buffer): Buffer {
    this.#hmac.update(chunk);
    return this.#decipher.update(chunk);
  }

  final(): Buffer | undefined {
    const rest = this.#decipher.final();
    if (!timingSafeEqual(this.#hmac.digest(), this.#expected)) {
      throw new WardError('ERR_OCICRYPT_HMAC_MISMATCH', 'encrypted layer failed its integrity check: tampered or truncated');
    }
    return rest.length ? rest : undefined;
  }
}
