/**
 * Envelope encryption: each value gets its own random data key; the value is sealed with
 * AES-256-GCM under the data key, and the data key is wrapped by a master key held by a
 * {@link KeyWrapper} (a file, a passphrase-sealed key, an HSM, ...). Only wrapped data keys are
 * stored. Rotating the master key re-wraps data keys; values are never re-encrypted for it.
 *
 * The associated data given to {@link sealEnvelope} is bound to both the value and its wrapped
 * data key, so neither can be moved to another record (another path, version or format).
 */
import { newKey, openAesGcm, sealAesGcm } from './aead.ts';

/** Wraps and unwraps data keys under a master key. Implemented in src/keys. */
export interface KeyWrapper {
  /** Identifies the master key (and its version) that {@link wrap} uses now. */
  readonly keyId: string;
  /** Wraps a data key; `aad` binds the wrapped key to its record. */
  wrap(dataKey: Buffer, aad: Buffer): Promise<Buffer>;
  /** Unwraps a data key wrapped under the master key `keyId`. Throws ERR_CRYPTO_AUTH on mismatch. */
  unwrap(wrapped: Buffer, aad: Buffer, keyId: string): Promise<Buffer>;
}

export interface Envelope {
  /** nonce ‖ AES-256-GCM ciphertext ‖ tag of the value, under the data key. */
  ciphertext: Buffer;
  /** The data key, wrapped by the master key. */
  wrappedKey: Buffer;
  /** Which master key wrapped it. */
  keyId: string;
}

/** Seals `plaintext` under a fresh data key wrapped by `wrapper`. The data key is zeroed after use. */
export async function sealEnvelope(wrapper: KeyWrapper, plaintext: Buffer, aad: Buffer): Promise<Envelope> {
  const dataKey = newKey();
  try {
    const ciphertext = sealAesGcm(dataKey, plaintext, aad);
    const keyId = wrapper.keyId;
    const wrappedKey = await wrapper.wrap(dataKey, aad);
    return { ciphertext, wrappedKey, keyId };
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Opens an envelope. The caller owns the returned plaintext and should zero it when done.
 * @throws WardError ERR_CRYPTO_AUTH when the key, the associated data or a byte does not match
 */
export async function openEnvelope(wrapper: KeyWrapper, envelope: Envelope, aad: Buffer): Promise<Buffer> {
  const dataKey = await wrapper.unwrap(envelope.wrappedKey, aad, envelope.keyId);
  try {
    return openAesGcm(dataKey, envelope.ciphertext, aad);
  } finally {
    dataKey.fill(0);
  }
}
