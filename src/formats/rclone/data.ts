/**
 * rclone crypt file contents (backend/crypt/cipher.go, rclone 64ab1ac):
 *
 *   file   = magic "RCLONE\0\0" (8) ‖ nonce (24) ‖ block*
 *   block  = XSalsa20-Poly1305 secretbox(data key, nonce + i, chunk_i) = MAC (16) ‖ ciphertext
 *   chunk  = 64 KiB of plaintext; the last one shorter, never empty (an empty file is the header alone)
 *
 * The nonce of block i is the file nonce plus i, as a 24-byte little-endian integer (rclone's
 * nonce.increment: add 1 to byte 0 and carry upwards). The format has no end marker: a file cut
 * at a block boundary still decrypts (to a shorter plaintext); Ward cannot detect that either.
 */
import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import sodium from 'sodium-native';
import { WardError } from '../../errors.ts';

export const FILE_MAGIC: Buffer = Buffer.from('RCLONE\0\0', 'latin1');
export const NONCE_BYTES = 24;
export const HEADER_BYTES = FILE_MAGIC.length + NONCE_BYTES;
export const BLOCK_OVERHEAD = 16;
export const BLOCK_DATA = 64 * 1024;
export const BLOCK_BYTES = BLOCK_OVERHEAD + BLOCK_DATA;

/** Size of the encrypted file for a plaintext of `size` bytes (rclone's EncryptedSize). */
export function encryptedSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError('size must be a non-negative integer');
  const blocks = Math.floor(size / BLOCK_DATA);
  const rest = size % BLOCK_DATA;
  return HEADER_BYTES + blocks * BLOCK_BYTES + (rest === 0 ? 0 : BLOCK_OVERHEAD + rest);
}

/**
 * Plaintext size of an encrypted file of `size` bytes (rclone's DecryptedSize).
 * @throws WardError ERR_RCLONE_HEADER (shorter than the header), ERR_RCLONE_TRUNCATED (a block
 *   with no data after its MAC)
 */
export function decryptedSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError('size must be a non-negative integer');
  const body = size - HEADER_BYTES;
  if (body < 0) throw headerError('file is too short to be encrypted');
  const rest = body % BLOCK_BYTES;
  if (rest !== 0 && rest <= BLOCK_OVERHEAD) throw truncatedError();
  return Math.floor(body / BLOCK_BYTES) * BLOCK_DATA + (rest === 0 ? 0 : rest - BLOCK_OVERHEAD);
}

function headerError(why: string): WardError {
  return new WardError('ERR_RCLONE_HEADER', `not an rclone crypt file: ${why}`);
}

function truncatedError(): WardError {
  return new WardError('ERR_RCLONE_TRUNCATED', 'encrypted file is truncated: a block ends inside its header');
}

/** Adds 1 to a little-endian nonce in place (rclone's nonce.increment; wraps at 2^192). */
export function incrementNonce(nonce: Uint8Array): void {
  for (let i = 0; i < nonce.length; i++) {
    nonce[i] = (nonce[i]! + 1) & 0xff;
    if (nonce[i] !== 0) return;
  }
}

function checkKey(dataKey: Uint8Array): Buffer {
  if (dataKey.length !== 32) throw new TypeError('data key must be 32 bytes');
  return Buffer.from(dataKey);
}

/** A fresh random file nonce. */
export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The 32-byte file header for `nonce`. */
export function fileHeader(nonce: Uint8Array): Buffer {
  if (nonce.length !== NONCE_BYTES) throw new TypeError(`nonce must be ${NONCE_BYTES} bytes`);
  return Buffer.concat([FILE_MAGIC, nonce]);
}

/**
 * Checks a file header and returns (a copy of) its nonce.
 * @throws WardError ERR_RCLONE_HEADER
 */
export function parseHeader(header: Uint8Array): Buffer {
  if (header.length < HEADER_BYTES) throw headerError('file is too short to be encrypted');
  if (!FILE_MAGIC.equals(header.subarray(0, FILE_MAGIC.length))) throw headerError('bad magic');
  return Buffer.from(header.subarray(FILE_MAGIC.length, HEADER_BYTES));
}

/**
 * Seals `input` as consecutive blocks (64 KiB chunks, the last may be shorter) into `output` from
 * `offset`, advancing `nonce` one step per block. Returns the bytes written. The block loop of
 * every encrypting path: {@link BlockSealer}, the stream, and the tree driver's worker thread.
 */
export function sealChunks(key: Uint8Array, nonce: Uint8Array, input: Uint8Array, output: Uint8Array, offset: number): number {
  let o = offset;
  for (let i = 0; i < input.length; i += BLOCK_DATA) {
    const chunk = input.subarray(i, Math.min(input.length, i + BLOCK_DATA));
    sodium.crypto_secretbox_easy(output.subarray(o, o + chunk.length + BLOCK_OVERHEAD), chunk, nonce, key);
    incrementNonce(nonce);
    o += chunk.length + BLOCK_OVERHEAD;
  }
  return o - offset;
}

/**
 * Opens consecutive blocks of `input` (65,552 bytes each, the last may be shorter) into `output`,
 * advancing `nonce`; `first` is the index of the first block, for messages. Returns the plaintext
 * length. A failing block's output is zeroed.
 * @throws WardError ERR_RCLONE_TRUNCATED, ERR_RCLONE_BLOCK
 */
export function openBlocks(key: Uint8Array, nonce: Uint8Array, input: Uint8Array, output: Uint8Array, first: number): number {
  let o = 0;
  for (let i = 0, b = first; i < input.length; i += BLOCK_BYTES, b++) {
    const block = input.subarray(i, Math.min(input.length, i + BLOCK_BYTES));
    if (block.length <= BLOCK_OVERHEAD) throw truncatedError();
    const n = block.length - BLOCK_OVERHEAD;
    if (!sodium.crypto_secretbox_open_easy(output.subarray(o, o + n), block, nonce, key)) {
      output.fill(0, o, o + n);
      throw new WardError('ERR_RCLONE_BLOCK', `block ${b} failed authentication: wrong password or tampered data`);
    }
    incrementNonce(nonce);
    o += n;
  }
  return o;
}

/**
 * Encrypts one file, block by block, into buffers the caller owns (so a driver can reuse them and
 * keep memory flat). Call {@link header} once, then {@link seal} for each chunk in order.
 */
export class BlockSealer {
  readonly #key: Buffer;
  readonly #nonce: Buffer;
  readonly #header: Buffer;

  /** `nonce` is for tests and vectors; normally 24 random bytes. */
  constructor(dataKey: Uint8Array, nonce: Uint8Array = newNonce()) {
    this.#header = fileHeader(nonce);
    this.#key = checkKey(dataKey);
    this.#nonce = Buffer.from(nonce);
  }

  /** The 32-byte file header. */
  header(): Buffer {
    return Buffer.from(this.#header);
  }

  /**
   * Seals one chunk (1 to 65536 bytes; only the last may be short) into `out` (at least
   * chunk length + 16 bytes) and returns the bytes written.
   */
  seal(chunk: Uint8Array, out: Uint8Array): number {
    if (chunk.length === 0 || chunk.length > BLOCK_DATA) throw new TypeError('chunk must be 1 to 65536 bytes');
    return sealChunks(this.#key, this.#nonce, chunk, out, 0);
  }

  /** Zeroes the key copy. */
  dispose(): void {
    this.#key.fill(0);
  }
}

/** Decrypts one file block by block. Give it the header first, then each block in order. */
export class BlockOpener {
  readonly #key: Buffer;
  #nonce: Buffer = Buffer.alloc(NONCE_BYTES);
  #block = 0;

  constructor(dataKey: Uint8Array) {
    this.#key = checkKey(dataKey);
  }

  /**
   * Reads the 32-byte header.
   * @throws WardError ERR_RCLONE_HEADER
   */
  header(header: Uint8Array): void {
    this.#nonce = parseHeader(header);
  }

  /**
   * Opens one block (17 to 65552 bytes) into `out` and returns the plaintext length.
   * @throws WardError ERR_RCLONE_TRUNCATED (no data after the MAC), ERR_RCLONE_BLOCK (fails
   *   authentication: wrong key, or tampered data)
   */
  open(block: Uint8Array, out: Uint8Array): number {
    if (block.length > BLOCK_BYTES) throw new TypeError('block is larger than 65552 bytes');
    if (block.length <= BLOCK_OVERHEAD) throw truncatedError();
    const n = openBlocks(this.#key, this.#nonce, block, out, this.#block);
    this.#block++;
    return n;
  }

  dispose(): void {
    this.#key.fill(0);
  }
}

/** Collects input into fixed-size chunks, handing each full one to `emit`. */
class Chunker {
  readonly #buf: Buffer;
  #fill = 0;
  constructor(size: number) {
    this.#buf = Buffer.alloc(size);
  }
  push(data: Buffer, emit: (chunk: Buffer) => void): void {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.#buf.length - this.#fill, data.length - off);
      data.copy(this.#buf, this.#fill, off, off + n);
      this.#fill += n;
      off += n;
      if (this.#fill === this.#buf.length) {
        emit(this.#buf);
        this.#fill = 0;
      }
    }
  }
  rest(): Buffer {
    return this.#buf.subarray(0, this.#fill);
  }
}

/** A Transform that encrypts a byte stream into an rclone crypt file. */
export function encryptStream(dataKey: Uint8Array, nonce?: Uint8Array): Transform {
  const sealer = new BlockSealer(dataKey, nonce);
  const chunker = new Chunker(BLOCK_DATA);
  let started = false;
  const start = (t: Transform): void => {
    if (!started) t.push(sealer.header());
    started = true;
  };
  const emit = (t: Transform) => (chunk: Buffer) => {
    const out = Buffer.allocUnsafe(chunk.length + BLOCK_OVERHEAD);
    sealer.seal(chunk, out);
    t.push(out);
  };
  return new Transform({
    transform(data: Buffer, _enc, cb: TransformCallback) {
      start(this);
      chunker.push(data, emit(this));
      cb();
    },
    flush(cb: TransformCallback) {
      start(this);
      const rest = chunker.rest();
      if (rest.length > 0) emit(this)(rest);
      sealer.dispose();
      cb();
    },
  });
}

/**
 * A Transform that decrypts an rclone crypt file. It fails (ERR_RCLONE_HEADER, ERR_RCLONE_TRUNCATED,
 * ERR_RCLONE_BLOCK) before passing on any byte of a bad block; earlier blocks were already passed on.
 */
export function decryptStream(dataKey: Uint8Array): Transform {
  const opener = new BlockOpener(dataKey);
  const header = new Chunker(HEADER_BYTES);
  const blocks = new Chunker(BLOCK_BYTES);
  let haveHeader = false;
  const emit = (t: Transform) => (block: Buffer) => {
    const out = Buffer.allocUnsafe(Math.max(0, block.length - BLOCK_OVERHEAD));
    opener.open(block, out);
    t.push(out);
  };
  return new Transform({
    transform(data: Buffer, _enc, cb: TransformCallback) {
      try {
        let rest = data;
        if (!haveHeader) {
          const need = HEADER_BYTES - header.rest().length;
          header.push(rest.subarray(0, need), (h) => {
            opener.header(h);
            haveHeader = true;
          });
          rest = rest.subarray(need);
        }
        if (rest.length > 0) blocks.push(rest, emit(this));
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!haveHeader) opener.header(header.rest());
        const rest = blocks.rest();
        if (rest.length > 0) emit(this)(rest);
        opener.dispose();
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}
