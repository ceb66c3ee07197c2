/**
 * What every image transport (oci layout, docker-archive, registry) offers the copier, and the
 * chunk helpers they share: digest verification on the fly, file reads and writes, a bounded read.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { WardError } from '../errors.ts';
import type { Descriptor, Stage } from '../formats/ocicrypt/index.ts';

/**
 * Blob data as a sequence of chunks. A chunk may live in a reused buffer: it stays valid until
 * two more chunks have been requested (file sources keep a ring of three buffers, one read
 * ahead), so a consumer may keep at most one chunk in flight (as writeFileChunks does) and
 * copies anything it keeps longer. Sources, stages and sinks are driven by one loop instead of Node streams, which
 * keeps peak memory near the runtime's own (streams left ~100 MiB of dead buffers per GiB).
 */
export type Chunks = AsyncIterable<Buffer> | Iterable<Buffer>;

/**
 * Stream chunk and buffer size for blob I/O. Small enough that the dead buffers each chunk leaves
 * behind stay a few MiB (peak RSS is mostly those), large enough to amortize per-chunk costs.
 */
export const CHUNK = 64 << 10;

export interface ResolvedManifest {
  raw: Buffer;
  mediaType: string;
  digest: string;
}

export interface ImageSource {
  /** The image manifest, an index already resolved to `platform`. */
  manifest(platform: { os: string; architecture: string; variant?: string }): Promise<ResolvedManifest>;
  /** The blob's bytes as stored (the copier verifies them against `desc`). */
  blob(desc: Descriptor): Promise<Chunks>;
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
  putBlob(data: Chunks, known?: BlobWritten): Promise<BlobWritten>;
  /** Registry destinations: mounts a blob from another repository on the same registry; false when it cannot. */
  mountBlob?(desc: Descriptor, from: { host: string; repo: string }): Promise<boolean>;
  /** Stores the manifest; written last, by {@link commit} for file transports. */
  putManifest(raw: Buffer, mediaType: string): Promise<void>;
  commit(): Promise<void>;
  /** Removes everything this copy wrote. */
  abort(): Promise<void>;
}

/**
 * Hashes and counts what passes through; `final()` fails with ERR_IMAGE_TRUNCATED or
 * ERR_IMAGE_DIGEST_MISMATCH when `expected` does not match, before the consumer sees the end.
 */
export class Digester implements Stage {
  readonly #hash: Hash = createHash('sha256');
  readonly #expected: { digest: string; size?: number } | undefined;
  readonly #what: string;
  readonly #onData: ((size: number) => void) | undefined;
  size = 0;
  digest = '';

  /** @param expected the digest and (when known) size the data must have */
  constructor(expected: { digest: string; size?: number } | undefined, what: string, onData?: (size: number) => void) {
    this.#expected = expected;
    this.#what = what;
    this.#onData = onData;
  }

  update(chunk: Buffer): Buffer {
    this.#hash.update(chunk);
    this.size += chunk.length;
    this.#onData?.(this.size);
    if (this.#expected?.size !== undefined && this.size > this.#expected.size) {
      throw new WardError('ERR_IMAGE_DIGEST_MISMATCH', `${this.#what} is longer than its descriptor says (${this.#expected.size} bytes)`);
    }
    return chunk;
  }

  final(): undefined {
    this.digest = `sha256:${this.#hash.digest('hex')}`;
    const e = this.#expected;
    if (e?.size !== undefined && this.size < e.size) {
      throw new WardError('ERR_IMAGE_TRUNCATED', `${this.#what} ended after ${this.size} of ${e.size} bytes`);
    }
    if (e && this.digest !== e.digest) {
      throw new WardError('ERR_IMAGE_DIGEST_MISMATCH', `${this.#what} does not match its digest ${e.digest}`);
    }
    return undefined;
  }
}

/** Buffers a stage allocated for this pipeline alone: the sink frees them once written. */
const owned = new WeakSet<ArrayBufferLike>();

function mark(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) owned.add(b.buffer);
  return b;
}

/**
 * Marks the stage's outputs as owned by the pipeline, so that sinks release them right after
 * writing them (V8 would otherwise collect these buffers late: ~50 MiB more peak RSS per layer).
 */
export function ownedOutputs(stage: Stage): Stage {
  return {
    update: (c) => mark(stage.update(c)),
    final: () => {
      const rest = stage.final();
      return rest && mark(rest);
    },
  };
}

/** Frees a written chunk's memory now if the pipeline owns it. */
export function release(c: Buffer): void {
  if (!owned.has(c.buffer)) return;
  owned.delete(c.buffer);
  (c.buffer as ArrayBuffer).transfer(0);
}

/** Runs `chunks` through a stage. */
export async function* through(chunks: Chunks, stage: Stage): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    const out = stage.update(c);
    if (out.length) yield out;
  }
  const rest = stage.final();
  if (rest?.length) yield rest;
}

/**
 * A file's bytes [start, start+length) as chunks read into a ring of three reused buffers, one
 * read ahead, so reading overlaps the consumer's work.
 * @throws ERR_IMAGE_NOT_FOUND when the file cannot be opened (checked before returning)
 */
export async function readFileChunks(path: string, what: string, start = 0, length = Infinity): Promise<Chunks> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw new WardError('ERR_IMAGE_NOT_FOUND', `${what} missing (${path})`, { cause: e });
  });
  return (async function* () {
    const ring = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(CHUNK));
    let pos = start;
    let left = length;
    let slot = 0;
    const readNext = async (): Promise<Buffer | undefined> => {
      if (left <= 0) return undefined;
      const buf = ring[slot++ % ring.length]!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, left), pos);
      if (bytesRead === 0) return undefined;
      pos += bytesRead;
      left -= bytesRead;
      return buf.subarray(0, bytesRead);
    };
    let next = readNext();
    try {
      for (let chunk = await next; chunk; chunk = await next) {
        next = readNext();
        yield chunk;
      }
    } finally {
      await next.catch(() => undefined);
      await fh.close();
    }
  })();
}

/** Writes chunks to a new file (mode 0600), one write in flight while the next chunk is made. */
export async function writeFileChunks(path: string, chunks: Chunks): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  const writeAll = async (c: Buffer) => {
    for (let off = 0; off < c.length;) off += (await fh.write(c, off, c.length - off)).bytesWritten;
    release(c);
  };
  let pending: Promise<void> = Promise.resolve();
  try {
    for await (const c of chunks) {
      await pending;
      pending = writeAll(c);
    }
    await pending;
  } finally {
    await pending.catch(() => undefined);
    await fh.close();
  }
}

/** Reads a small blob whole (manifests, configs), bounded by `limit`. */
export async function readAll(chunks: Chunks, limit: number, what: string): Promise<Buffer> {
  const out: Buffer[] = [];
  let n = 0;
  for await (const c of chunks) {
    n += c.length;
    if (n > limit) throw new WardError('ERR_IMAGE_FORMAT', `${what} is larger than ${limit} bytes`);
    out.push(Buffer.from(c));
  }
  return Buffer.concat(out);
}

export function hexOf(digest: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new WardError('ERR_IMAGE_FORMAT', `unsupported digest ${JSON.stringify(digest.slice(0, 80))}`);
  return digest.slice('sha256:'.length);
}
