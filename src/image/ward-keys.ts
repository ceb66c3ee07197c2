/**
 * Layer keys held by the Ward server: `--encryption-key ward:APP/ENV/NAME` and
 * `--decryption-key ward:APP/ENV/NAME` of `ward image copy`, and the `ward keyprovider` command
 * (ocicrypt's key-provider protocol). The secret APP/ENV/NAME holds an RSA or EC private key in
 * PEM (PKCS#8; SEC1/PKCS#1 also read). Wrapping derives the public key from it; unwrapping fetches
 * the private key over mTLS with the caller's identity, so only workloads the server lets read
 * the secret can open the layer. The key lives in memory only; fetched PEM buffers are zeroed.
 *
 * The scheme is ocicrypt's key-provider scheme under the provider name `ward`, so an image
 * encrypted by `ward image copy` decrypts in containerd/CRI-O through `ward keyprovider`, and
 * the reverse:
 *
 *   annotation org.opencontainers.image.enc.keys.provider.ward = base64(blob) ["," base64(blob)]…
 *   blob = {"version":1,"keys":["APP/ENV/NAME",…],"jwe":JWE}     (JSON, ≤ 1 MiB)
 *
 * `jwe` is the layer's private options encrypted to the public key of each named secret (the
 * `jwe` scheme's JWE: RSA-OAEP or ECDH-ES+A256KW, A256GCM), in the order of `keys`.
 */
import { WardError } from '../errors.ts';
import {
  decryptJwe, encryptJwe, KEY_PROVIDER_ANNOTATION_PREFIX, MAX_KEY_PROVIDER_MESSAGE, parsePrivateKey, parsePublicKey,
} from '../formats/ocicrypt/index.ts';
import type { JweRecipient, KeyWrapper } from '../formats/ocicrypt/index.ts';
import type { KeyObject } from 'node:crypto';

/** The provider name Ward uses in ocicrypt.conf and in its annotation. */
export const WARD_PROVIDER = 'ward';
export const ANNOTATION_WARD = `${KEY_PROVIDER_ANNOTATION_PREFIX}${WARD_PROVIDER}`;
export const WARD_BLOB_VERSION = 1;
const MAX_KEYS = 64;

export interface SecretRef {
  app: string;
  env: string;
  name: string;
}

/**
 * Fetches a secret's value (the private key PEM) from the Ward server; the caller zeroes it.
 * Throws the server's WardError (ERR_API_DENIED when denied or absent).
 */
export type FetchSecret = (ref: SecretRef) => Promise<Buffer>;

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Parses `APP/ENV/NAME` (an optional `ward:` prefix is dropped).
 * @throws WardError ERR_USAGE
 */
export function parseSecretRef(text: string): SecretRef {
  const path = text.startsWith('ward:') ? text.slice(5) : text;
  const parts = path.split('/');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
    throw new WardError('ERR_USAGE', `invalid Ward key ${JSON.stringify(text.slice(0, 200))}`, { hint: 'use ward:APP/ENV/NAME, the secret holding the private key' });
  }
  return { app: parts[0]!, env: parts[1]!, name: parts[2]! };
}

export const formatSecretRef = (r: SecretRef) => `${r.app}/${r.env}/${r.name}`;

interface Blob {
  keys: string[];
  jwe: string;
}

const blobError = (what: string) => new WardError('ERR_OCICRYPT_FORMAT', `invalid ward key-provider annotation: ${what}`);

/** Parses a wrapped-key blob strictly. @throws ERR_OCICRYPT_FORMAT */
export function parseWardBlob(data: Buffer): Blob {
  if (data.length > MAX_KEY_PROVIDER_MESSAGE) throw blobError('too large');
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    throw blobError('not JSON');
  }
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) throw blobError('not an object');
  const o = v as Record<string, unknown>;
  if (o.version !== WARD_BLOB_VERSION) throw blobError(`unsupported version ${JSON.stringify(o.version)}`);
  const extra = Object.keys(o).filter((k) => k !== 'version' && k !== 'keys' && k !== 'jwe');
  if (extra.length) throw blobError(`unknown member ${JSON.stringify(extra[0])}`);
  if (!Array.isArray(o.keys) || o.keys.length === 0 || o.keys.length > MAX_KEYS || !o.keys.every((k) => typeof k === 'string')) throw blobError('keys');
  for (const k of o.keys as string[]) {
    try {
      parseSecretRef(k);
    } catch {
      throw blobError('keys');
    }
  }
  if (typeof o.jwe !== 'object' || o.jwe === null || Array.isArray(o.jwe)) throw blobError('jwe');
  return { keys: o.keys as string[], jwe: JSON.stringify(o.jwe) };
}

export function serializeWardBlob(keys: readonly string[], jwe: string): Buffer {
  return Buffer.from(JSON.stringify({ version: WARD_BLOB_VERSION, keys, jwe: JSON.parse(jwe) as unknown }));
}

export interface WardKeyOptions {
  /** Secrets whose public keys the layer key is wrapped to. */
  encryptTo?: readonly SecretRef[];
  /** Secrets to unwrap with; 'any' tries every key a blob names (the key provider's way). */
  decryptWith?: readonly SecretRef[] | 'any';
  fetch: FetchSecret;
}

/** The `provider.ward` scheme as a {@link KeyWrapper}; keys are fetched once per wrapper. */
export class WardKeyWrapper implements KeyWrapper {
  readonly annotation = ANNOTATION_WARD;
  readonly #encryptTo: readonly string[];
  readonly #decryptWith: readonly string[] | 'any';
  readonly #fetch: FetchSecret;
  readonly #keys = new Map<string, Promise<KeyObject>>();
  #recipients: Promise<JweRecipient[]> | undefined;

  constructor(o: WardKeyOptions) {
    this.#encryptTo = [...new Set((o.encryptTo ?? []).map(formatSecretRef))];
    this.#decryptWith = o.decryptWith === 'any' ? 'any' : [...new Set((o.decryptWith ?? []).map(formatSecretRef))];
    this.#fetch = o.fetch;
    if (this.#encryptTo.length > MAX_KEYS) throw new WardError('ERR_USAGE', `at most ${MAX_KEYS} ward: keys`);
  }

  get canWrap(): boolean {
    return this.#encryptTo.length > 0;
  }

  get canUnwrap(): boolean {
    return this.#decryptWith === 'any' || this.#decryptWith.length > 0;
  }

  /** The private key of `path`, fetched once; a fetch failure is not cached. */
  #privateKey(path: string): Promise<KeyObject> {
    let p = this.#keys.get(path);
    if (!p) {
      p = (async () => {
        const pem = await this.#fetch(parseSecretRef(path));
        try {
          return parsePrivateKey(pem);
        } catch (e) {
          throw new WardError('ERR_OCICRYPT_KEY', `the secret ${path} does not hold an RSA or EC private key`, { cause: e });
        } finally {
          pem.fill(0);
        }
      })();
      p.catch(() => this.#keys.delete(path));
      this.#keys.set(path, p);
    }
    return p;
  }

  async wrap(optsData: Buffer): Promise<Buffer> {
    this.#recipients ??= Promise.all(this.#encryptTo.map(async (path) => {
      // the public half, through a JWK whose private members parsePublicKey drops
      const jwk = Buffer.from(JSON.stringify((await this.#privateKey(path)).export({ format: 'jwk' })));
      try {
        const { key, alg } = parsePublicKey(jwk);
        return { kind: 'public' as const, key, alg };
      } finally {
        jwk.fill(0);
      }
    }));
    const recipients = await this.#recipients.catch((e: unknown) => {
      this.#recipients = undefined;
      throw e;
    });
    return serializeWardBlob(this.#encryptTo, encryptJwe(optsData, recipients));
  }

  /**
   * Opens a blob with the first of its keys this wrapper may use and the server lets the caller
   * read; null when none of them is this wrapper's.
   * @throws the server's ERR_API_DENIED when every candidate key was refused
   */
  async unwrap(wrapped: Buffer): Promise<Buffer | null> {
    const blob = parseWardBlob(wrapped);
    const allowed = this.#decryptWith;
    const candidates = allowed === 'any' ? blob.keys : blob.keys.filter((k) => allowed.includes(k));
    let refused: WardError | undefined;
    for (const path of candidates) {
      let key: KeyObject;
      try {
        key = await this.#privateKey(path);
      } catch (e) {
        if (e instanceof WardError && e.code === 'ERR_API_DENIED') {
          refused = e;
          continue;
        }
        throw e;
      }
      const opts = decryptJwe(blob.jwe, [{ kind: 'private', key }]);
      if (opts) return opts;
    }
    if (refused) {
      throw new WardError('ERR_API_DENIED', `the Ward server refused the layer key (${candidates.join(', ')}): ${refused.message}`, {
        cause: refused,
        hint: 'the workload needs read access to the secret holding the image key (ward policy explain)',
      });
    }
    return null;
  }
}
