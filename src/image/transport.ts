/**
 * What every image transport (oci layout, docker-archive, registry) offers the copier, and the
 * stream helpers they share: digest verification on the fly and a bounded read.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { WardError } from '../errors.ts';
import type { Descriptor } from '../formats/ocicrypt/index.ts';

export interface ResolvedManifest {
  raw: Buffer;
  mediaType: string;
  digest: string;
}

export interface ImageSource {
  /** The image manifest, an index already resolved to `platform`. */
  manifest(platform: { os: string; architecture: string; variant?: string }): Promise<ResolvedManifest>;
  /** The blob's bytes as stored (the copier verifies them against `desc`). */
  blob(desc: Descriptor): Promise<Readable>;
  /** Where blobs come from, so a registry destination on the same host can mount them. */
  readonly origin?: { host: string; repo: string };
  close(): Promise<void>;
}

export interface BlobWritten {
  digest: string;
  size: number;
}

export interface ImageDestination {
  /** Layers must arrive uncompressed (docker-archive) and unencrypted. */
  readonly wantsPlainUncompressed: boolean;
  /** Whether the destination already has this blob (then it is not sent again). */
  hasBlob(desc: Descriptor): Promise<boolean>;
  /**
   * Stores a blob streamed from `data`; the digest and size are computed on the way. When
   * `known` is given the blob must match it. Nothing becomes visible before {@link commit}.
   */
  putBlob(data: Readable, known?: BlobWritten): Promise<BlobWritten>;
  /** Registry destinations: mounts a blob from another repository on the same registry; false when it cannot. */
  mountBlob?(desc: Descriptor, from: { host: string; repo: string }): Promise<boolean>;
  /** Stores the manifest; written last, by {@link commit} for file transports. */
  putManifest(raw: Buffer, mediaType: string): Promise<void>;
  commit(): Promise<void>;
  /** Removes everything this copy wrote. */
  abort(): Promise<void>;
}

/**
 * Hashes and counts what passes through; at the end fails with ERR_IMAGE_TRUNCATED or
 * ERR_IMAGE_DIGEST_MISMATCH when `expected` does not match, before the consumer sees the end.
 */
export class DigestStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  readonly #expected: { digest: string; size?: number } | undefined;
  readonly #what: string;
  size = 0;
  digest = '';

  readonly #onData: ((size: number) => void) | undefined;

  /** @param expected the digest and (when known) size the data must have */
  constructor(expected: { digest: string; size?: number } | undefined, what: string, onData?: (size: number) => void) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.#expected = expected;
    this.#what = what;
    this.#onData = onData;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
    this.#onData?.(this.size);
    if (this.#expected?.size !== undefined && this.size > this.#expected.size) {
      cb(new WardError('ERR_IMAGE_DIGEST_MISMATCH', `${this.#what} is longer than its descriptor says (${this.#expected.size} bytes)`));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.digest = `sha256:${this.#hash.digest('hex')}`;
    const e = this.#expected;
    if (e?.size !== undefined && this.size < e.size) {
      cb(new WardError('ERR_IMAGE_TRUNCATED', `${this.#what} ended after ${this.size} of ${e.size} bytes`));
      return;
    }
    if (e && this.digest !== e.digest) {
      cb(new WardError('ERR_IMAGE_DIGEST_MISMATCH', `${this.#what} does not match its digest ${e.digest}`));
      return;
    }
    cb();
  }
}

/** Reads a small blob whole (manifests, configs), bounded by `limit`. */
export async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      stream.destroy();
      throw new WardError('ERR_IMAGE_FORMAT', `${what} is larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function hexOf(digest: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new WardError('ERR_IMAGE_FORMAT', `unsupported digest ${JSON.stringify(digest.slice(0, 80))}`);
  return digest.slice('sha256:'.length);
}
