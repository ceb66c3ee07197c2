/**
 * Drivers that run a {@link Transformer} from a source to a sink. They do I/O only on the file
 * descriptors or streams they are given; opening files, temp files and TTY checks are the
 * CLI's job.
 *
 * The fd driver is the fast path for regular files: large reads into two reused buffers, the next
 * read in flight while the current block is transformed, and one `writev` of the block's output in
 * flight at a time. Output buffers are written as soon as a block is done and then dropped, which
 * keeps peak memory to a few blocks. Pipes and terminals go through the Node stream adapters, which
 * respect backpressure.
 */
import { read, writev } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { ENCRYPTED_CHUNK_SIZE, type Transformer } from './stream.ts';

/** A source of bytes; a returned buffer stays valid only until the next `read()`. */
export interface ByteSource {
  read(): Promise<Buffer | null>;
  /** Resolves once no read is in flight, so the caller may close the descriptor safely. */
  settled?(): Promise<void>;
}

export interface ByteSink {
  write(chunks: Buffer[]): Promise<void>;
}

/** 16 STREAM chunks per read: large enough to amortise syscalls, small enough for the cache. */
export const BLOCK_SIZE = 16 * ENCRYPTED_CHUNK_SIZE;

function readInto(fd: number, buf: Buffer): Promise<number> {
  const p = new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
  // A read-ahead abandoned after an error must not crash the process; a consumer still sees its error.
  p.catch(() => {});
  return p;
}

/** Reads `fd` to its end with one read always in flight ahead of the consumer. */
export function fdSource(fd: number, blockSize = BLOCK_SIZE): ByteSource {
  const buffers = [Buffer.allocUnsafe(blockSize), Buffer.allocUnsafe(blockSize)];
  let turn = 0;
  let ahead: Promise<number> | null = readInto(fd, buffers[0]!);
  return {
    async read() {
      if (ahead === null) return null;
      const n = await ahead;
      const buf = buffers[turn]!;
      if (n === 0) {
        ahead = null;
        return null;
      }
      turn ^= 1;
      ahead = readInto(fd, buffers[turn]!);
      return buf.subarray(0, n);
    },
    async settled() {
      if (ahead) await ahead.then(() => {}, () => {});
    },
  };
}

function writevAll(fd: number, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (list: Buffer[]): void => {
      writev(fd, list, null, (err, written) => {
        if (err) return reject(err);
        let n = written;
        let i = 0;
        while (i < list.length && n >= list[i]!.length) n -= list[i++]!.length;
        if (i === list.length) return resolve();
        step([list[i]!.subarray(n), ...list.slice(i + 1)]);
      });
    };
    step(chunks);
  });
}

const IOV_MAX = 1024;

/**
 * Frees the memory of written buffers now rather than at the next full GC: V8 collects dead
 * external buffers late, and 64 KiB cipher outputs would otherwise pile up to ~100 MiB of RSS.
 * Only buffers that own their whole ArrayBuffer are released (never a pool slice).
 */
function release(chunks: Buffer[]): void {
  for (const b of chunks) {
    const ab = b.buffer;
    if (ab instanceof ArrayBuffer && b.byteOffset === 0 && ab.byteLength === b.length && b.length >= 16 * 1024) ab.transfer(0);
  }
}

/** Writes to `fd`. It takes ownership of the buffers given to it: they are detached once written. */
export function fdSink(fd: number): ByteSink {
  return {
    async write(chunks) {
      for (let i = 0; i < chunks.length; i += IOV_MAX) await writevAll(fd, chunks.slice(i, i + IOV_MAX));
      release(chunks);
    },
  };
}

/** Adapts a Node Readable (stdin, a socket, a file stream). */
export function streamSource(stream: Readable): ByteSource {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  return {
    async read() {
      const r = await it.next();
      if (r.done) return null;
      return typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    },
  };
}

/** Adapts a Node Writable, waiting for 'drain' when it asks for it; its errors (EPIPE) reject. */
export function streamSink(stream: Writable): ByteSink {
  let failed: Error | null = null;
  stream.on('error', (e: Error) => {
    failed = e;
  });
  return {
    async write(chunks) {
      if (failed) throw failed;
      let ok = true;
      for (const c of chunks) ok = stream.write(c) && ok;
      if (!ok) {
        await new Promise<void>((resolve, reject) => {
          const done = (err?: Error): void => {
            stream.off('drain', done);
            stream.off('error', done);
            if (err) reject(err);
            else resolve();
          };
          stream.once('drain', done);
          stream.once('error', done);
        });
      }
    },
  };
}

/**
 * Runs `t` over everything `source` yields and writes its output to `sink`. On a transformer
 * error, the output it produced before failing (verified plaintext only, for a decryptor) is
 * written, then the error is thrown.
 */
export async function pump(source: ByteSource, t: Transformer, sink: ByteSink): Promise<void> {
  let writing: Promise<void> = Promise.resolve();
  for (;;) {
    const data = await source.read();
    const out: Buffer[] = [];
    let failure: unknown = null;
    try {
      if (data === null) await t.finish(out);
      else await t.push(data, out);
    } catch (e) {
      failure = e ?? new Error('transform failed');
    }
    await writing;
    if (out.length > 0) {
      writing = sink.write(out);
      writing.catch(() => {}); // handled by the next await; avoids an unhandled rejection meanwhile
    }
    if (failure !== null) {
      await writing;
      throw failure;
    }
    if (data === null) break;
  }
  await writing;
}
