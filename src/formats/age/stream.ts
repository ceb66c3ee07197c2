/**
 * STREAM, the age v1 payload encryption: ChaCha20-Poly1305 over 64 KiB chunks.
 *
 * Spec: C2SP age, https://c2sp.org/age, "Payload", after Hoang, Reyhanitabar, Rogaway and Vizár,
 * "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance" (STREAM). Layout:
 *
 *   payload = chunk* final            ; chunk: 65536 plaintext bytes + 16-byte tag
 *   nonce   = counter(11, big endian) || last(1)   ; last = 0x01 only on the final chunk
 *
 * The final chunk holds 0..65536 plaintext bytes; it is empty only when the whole payload is.
 * Nothing may follow it.
 *
 * These are transform-like objects: `push(data, out)` appends finished output buffers to `out`,
 * `finish(out)` flushes. They keep no reference to `data` after returning (a partial chunk is
 * copied), so a driver may reuse its read buffers. A decryptor appends a chunk's plaintext to
 * `out` only after its tag verified: no unauthenticated plaintext is ever released. When it throws,
 * `out` holds the verified plaintext produced before the failure.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { WardError } from '../../errors.ts';

export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
const ALGORITHM = 'chacha20-poly1305';

/** Transform-like byte processor; see the module comment. */
export interface Transformer {
  push(data: Buffer, out: Buffer[]): void | Promise<void>;
  finish(out: Buffer[]): void | Promise<void>;
}

function payloadError(message: string): WardError {
  return new WardError('ERR_AGE_PAYLOAD', `invalid age payload: ${message}`);
}

/** The 12-byte STREAM nonce, incremented in place (createCipheriv copies it). */
class Nonce {
  readonly bytes = Buffer.alloc(12);
  count = 0;

  next(): void {
    this.count++;
    for (let i = 10; i >= 0; i--) {
      this.bytes[i] = (this.bytes[i]! + 1) & 0xff;
      if (this.bytes[i] !== 0) return;
    }
    throw payloadError('too many chunks');
  }
}

export class StreamEncryptor implements Transformer {
  readonly #key: KeyObject;
  readonly #nonce = new Nonce();
  // Holds a partial chunk, or a full one that may still turn out to be the last.
  readonly #pending = Buffer.alloc(CHUNK_SIZE);
  #have = 0;
  #done = false;

  constructor(key: KeyObject) {
    this.#key = key;
  }

  #seal(plaintext: Buffer, last: boolean, out: Buffer[]): void {
    this.#nonce.bytes[11] = last ? 1 : 0;
    const c = createCipheriv(ALGORITHM, this.#key, this.#nonce.bytes, { authTagLength: TAG_SIZE });
    if (plaintext.length > 0) out.push(c.update(plaintext));
    c.final();
    out.push(c.getAuthTag());
    this.#nonce.next();
  }

  push(data: Buffer, out: Buffer[]): void {
    if (this.#done) throw new TypeError('push after finish');
    let off = 0;
    if (this.#have > 0) {
      const n = data.copy(this.#pending, this.#have, 0);
      this.#have += n;
      off = n;
      if (off === data.length) return;
      this.#seal(this.#pending, false, out);
      this.#have = 0;
    }
    // Seal straight from the caller's buffer while more data follows each chunk.
    while (data.length - off > CHUNK_SIZE) {
      this.#seal(data.subarray(off, off + CHUNK_SIZE), false, out);
      off += CHUNK_SIZE;
    }
    this.#have = data.copy(this.#pending, 0, off);
  }

  finish(out: Buffer[]): void {
    if (this.#done) return;
    this.#done = true;
    this.#seal(this.#pending.subarray(0, this.#have), true, out);
    this.#pending.fill(0);
  }
}

export class StreamDecryptor implements Transformer {
  readonly #key: KeyObject;
  readonly #nonce = new Nonce();
  readonly #pending = Buffer.alloc(ENCRYPTED_CHUNK_SIZE);
  #have = 0;
  #done = false;

  constructor(key: KeyObject) {
    this.#key = key;
  }

  #tryOpen(chunk: Buffer, last: boolean): Buffer | null {
    this.#nonce.bytes[11] = last ? 1 : 0;
    const d = createDecipheriv(ALGORITHM, this.#key, this.#nonce.bytes, { authTagLength: TAG_SIZE });
    d.setAuthTag(chunk.subarray(chunk.length - TAG_SIZE));
    const plaintext = d.update(chunk.subarray(0, chunk.length - TAG_SIZE));
    try {
      d.final();
    } catch {
      return null;
    }
    return plaintext;
  }

  /** Opens a full-size chunk that is followed by more data: normally not the last one. */
  #openFull(chunk: Buffer, out: Buffer[]): void {
    const plaintext = this.#tryOpen(chunk, false);
    if (plaintext !== null) {
      out.push(plaintext);
      this.#nonce.next();
      return;
    }
    // As age does: a full-size final chunk followed by more bytes is trailing data, not a bad tag.
    const final = this.#tryOpen(chunk, true);
    if (final === null) throw payloadError('chunk failed to authenticate');
    out.push(final);
    this.#done = true;
    throw payloadError('trailing data after the final chunk');
  }

  #openLast(chunk: Buffer, out: Buffer[]): void {
    if (chunk.length < TAG_SIZE) throw payloadError(this.#nonce.count === 0 && chunk.length === 0 ? 'no chunks' : 'truncated chunk');
    if (chunk.length === TAG_SIZE && this.#nonce.count > 0) throw payloadError('empty final chunk');
    const plaintext = this.#tryOpen(chunk, true);
    if (plaintext === null) {
      // A full chunk that opens as a middle chunk is authentic: release it, as age does, then fail.
      const middle = chunk.length === ENCRYPTED_CHUNK_SIZE ? this.#tryOpen(chunk, false) : null;
      if (middle === null) throw payloadError('final chunk failed to authenticate');
      out.push(middle);
      this.#done = true;
      throw payloadError('file is truncated: missing final chunk');
    }
    if (plaintext.length > 0) out.push(plaintext);
    this.#done = true;
  }

  push(data: Buffer, out: Buffer[]): void {
    if (data.length === 0) return;
    if (this.#done) throw payloadError('trailing data after the final chunk');
    let off = 0;
    if (this.#have > 0) {
      const n = data.copy(this.#pending, this.#have, 0);
      this.#have += n;
      off = n;
      if (off === data.length) return;
      this.#openFull(this.#pending, out);
      this.#have = 0;
    }
    while (data.length - off > ENCRYPTED_CHUNK_SIZE) {
      this.#openFull(data.subarray(off, off + ENCRYPTED_CHUNK_SIZE), out);
      off += ENCRYPTED_CHUNK_SIZE;
    }
    this.#have = data.copy(this.#pending, 0, off);
  }

  finish(out: Buffer[]): void {
    if (this.#done) return;
    this.#openLast(this.#pending.subarray(0, this.#have), out);
    this.#have = 0;
  }
}

/** Ciphertext size of a payload of `n` plaintext bytes (without header and nonce). */
export function encryptedSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError('invalid plaintext size');
  const chunks = n === 0 ? 1 : Math.ceil(n / CHUNK_SIZE);
  return n + chunks * TAG_SIZE;
}

/** Plaintext size of a payload of `n` ciphertext bytes; throws on sizes no payload can have. */
export function plaintextSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < TAG_SIZE) throw payloadError('impossible ciphertext size');
  const chunks = Math.ceil(n / ENCRYPTED_CHUNK_SIZE);
  const last = n - (chunks - 1) * ENCRYPTED_CHUNK_SIZE;
  if (last < TAG_SIZE || (last === TAG_SIZE && chunks > 1)) throw payloadError('impossible ciphertext size');
  return n - chunks * TAG_SIZE;
}
