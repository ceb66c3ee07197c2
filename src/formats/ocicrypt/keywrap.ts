/**
 * Key wrapping: how a layer's private options reach its recipients (ocicrypt keywrap/keywrap.go
 * and encryption.go at c3436fd).
 *
 *   annotation org.opencontainers.image.enc.keys.<scheme> = base64(wrapped₁) "," base64(wrapped₂) …
 *
 * Each scheme is a {@link KeyWrapper}. `jwe` is implemented here; a key provider (ocicrypt's
 * `provider.<name>`, such as Ward's own `provider.ward` in src/image/ward-keys.ts) is one more
 * KeyWrapper whose wrap/unwrap call out, which is why both are asynchronous.
 */
import { WardError } from '../../errors.ts';
import { ANNOTATION_JWE, ANNOTATION_KEYS_PREFIX, ANNOTATION_PUBOPTS } from './spec.ts';
import {
  decodeBase64, parsePrivateOptions, parsePublicOptions, serializePrivateOptions, serializePublicOptions,
} from './blockcipher.ts';
import type { PrivateOptions, PublicOptions } from './blockcipher.ts';
import { decryptJwe, encryptJwe } from './jwe.ts';
import type { JweKey, JweRecipient } from './jwe.ts';

export interface KeyWrapper {
  /** The annotation holding this scheme's wrapped keys, `org.opencontainers.image.enc.keys.<scheme>`. */
  readonly annotation: string;
  /** Whether this wrapper has recipients to wrap to. */
  readonly canWrap: boolean;
  /** Whether this wrapper has keys to unwrap with. */
  readonly canUnwrap: boolean;
  /** Wraps the serialized private options for all of this scheme's recipients (one blob). */
  wrap(optsData: Buffer): Promise<Buffer>;
  /** Unwraps one blob; null when none of this wrapper's keys opens it. */
  unwrap(wrapped: Buffer): Promise<Buffer | null>;
}

/** The `jwe` scheme: RSA/EC public keys (and Ward's passphrase recipient). */
export class JweKeyWrapper implements KeyWrapper {
  readonly annotation = ANNOTATION_JWE;
  readonly #recipients: readonly JweRecipient[];
  readonly #keys: readonly JweKey[];

  constructor(recipients: readonly JweRecipient[], keys: readonly JweKey[]) {
    this.#recipients = recipients;
    this.#keys = keys;
  }

  get canWrap(): boolean {
    return this.#recipients.length > 0;
  }

  get canUnwrap(): boolean {
    return this.#keys.length > 0;
  }

  async wrap(optsData: Buffer): Promise<Buffer> {
    return Buffer.from(encryptJwe(optsData, this.#recipients));
  }

  async unwrap(wrapped: Buffer): Promise<Buffer | null> {
    return decryptJwe(wrapped, this.#keys);
  }
}

/** The wrapped blobs of one annotation value. */
export function splitWrappedKeys(value: string): Buffer[] {
  return value.split(',').map((b) => decodeBase64(b, 'key annotation'));
}

/**
 * The annotations of a freshly encrypted layer (or of an encrypted layer gaining recipients:
 * `existing` holds its current annotations, whose wrapped keys are kept).
 */
export async function wrapLayerKeys(
  wrappers: readonly KeyWrapper[], priv: PrivateOptions, pub: PublicOptions, existing: Record<string, string> = {},
): Promise<Record<string, string>> {
  const optsData = serializePrivateOptions(priv);
  const out: Record<string, string> = {};
  try {
    for (const [k, v] of Object.entries(existing)) if (k.startsWith(ANNOTATION_KEYS_PREFIX)) out[k] = v;
    for (const w of wrappers) {
      if (!w.canWrap) continue;
      const b64 = (await w.wrap(optsData)).toString('base64');
      out[w.annotation] = out[w.annotation] ? `${out[w.annotation]},${b64}` : b64;
    }
  } finally {
    optsData.fill(0);
  }
  if (!Object.keys(out).length) throw new TypeError('wrapLayerKeys: no wrapper has recipients');
  out[ANNOTATION_PUBOPTS] = serializePublicOptions(pub).toString('base64');
  return out;
}

/**
 * Recovers a layer's options with the first wrapper and key that fit.
 * @throws ERR_OCICRYPT_NO_KEY when none fits, ERR_OCICRYPT_FORMAT when the annotations are malformed
 */
export async function unwrapLayerOptions(
  annotations: Record<string, string>, wrappers: readonly KeyWrapper[],
): Promise<{ priv: PrivateOptions; pub: PublicOptions }> {
  const pubB64 = annotations[ANNOTATION_PUBOPTS];
  const pub = parsePublicOptions(pubB64 === undefined ? Buffer.from('{"cipher":""}') : decodeBase64(pubB64, 'pubopts annotation'));
  const schemes = Object.keys(annotations).filter((k) => k.startsWith(ANNOTATION_KEYS_PREFIX));
  for (const w of wrappers) {
    const value = annotations[w.annotation];
    if (!w.canUnwrap || value === undefined) continue;
    for (const blob of splitWrappedKeys(value)) {
      const opts = await w.unwrap(blob);
      if (opts) {
        try {
          return { priv: parsePrivateOptions(opts), pub };
        } finally {
          opts.fill(0);
        }
      }
    }
  }
  const names = schemes.map((k) => k.slice(ANNOTATION_KEYS_PREFIX.length)).join(', ') || 'none';
  throw new WardError('ERR_OCICRYPT_NO_KEY', `none of the decryption keys opens the layer key (layer wrapped with: ${names})`, {
    hint: 'pass the private key the image was encrypted to with --decryption-key',
  });
}
