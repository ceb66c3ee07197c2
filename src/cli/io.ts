/**
 * File plumbing for commands that stream data (ward encrypt/decrypt): choose the fast fd driver
 * for regular files and the stream adapters for pipes and terminals, and write `-o` outputs
 * atomically: into a temp file in the same directory, renamed over the target only on success and
 * removed on failure (or on Ctrl-C), so a failed decryption leaves no partial plaintext behind.
 */
import { closeSync, fstatSync, fsyncSync, openSync, renameSync, unlinkSync, createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { isatty } from 'node:tty';
import { fdSink, fdSource, streamSink, streamSource, type ByteSink, type ByteSource } from '../formats/age/index.ts';
import { WardError } from '../errors.ts';

function ioError(what: string, path: string, e: unknown): WardError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new WardError('ERR_IO', `cannot ${what} ${path}: ${code}`, { cause: e });
}

export interface Input {
  source: ByteSource;
  /** Waits for any read in flight (closing under it would hand the read another file), then closes. */
  close(): Promise<void>;
}

/** Opens IN (or stdin when absent or "-"). */
export function openInput(path: string | undefined): Input {
  if (path === undefined || path === '-') {
    if (fstatSync(0).isFile()) return { source: fdSource(0), async close() {} };
    return { source: streamSource(process.stdin), async close() {} };
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw ioError('open input', path, e);
  }
  const source = fstatSync(fd).isFile() ? fdSource(fd) : streamSource(createReadStream('', { fd, autoClose: false }));
  return {
    source,
    async close() {
      await source.settled?.();
      closeSync(fd);
    },
  };
}

export function stdoutIsTerminal(): boolean {
  return isatty(1);
}

/**
 * Runs `fn` with a sink for OUT (or stdout when absent or "-"). With a path, output goes to a temp
 * file that replaces OUT only if `fn` succeeds.
 */
export async function withOutput(path: string | undefined, mode: number, fn: (sink: ByteSink) => Promise<void>): Promise<void> {
  if (path === undefined || path === '-') {
    await fn(fstatSync(1).isFile() ? fdSink(1) : streamSink(process.stdout));
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', mode);
  } catch (e) {
    throw ioError('create output', path, e);
  }
  const cleanup = (): void => {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await fn(fdSink(fd));
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    try {
      renameSync(tmp, path);
    } catch (e) {
      throw ioError('write output', path, e);
    }
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    cleanup();
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
