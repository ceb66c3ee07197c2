/**
 * Encrypts and decrypts whole directory trees in the rclone crypt format (src/formats/rclone),
 * the local half of `ward dir`. This module does the file-system work the format layer may not:
 * walking, reading, writing, renaming. It sits beside src/image and src/client in the layering
 * (it imports src/formats and src/errors only).
 *
 * Rules (docs/formats.md, "rclone crypt"):
 * - Regular files and directories are copied; file modes (permission bits) and modification times
 *   are kept in both directions, directory ones too (set after their contents).
 * - Symbolic links and special files are skipped with a warning, as `rclone copy` does without
 *   --links/--copy-links: a link's target would escape the tree being encrypted.
 * - Incremental: a destination file whose size is the one the source implies (encrypted or
 *   decrypted size) and whose modification time equals the source's (within 1 ms) is up to date
 *   and not rewritten, since Ward gives every file it writes its source's time. That is rclone's
 *   and rsync's quick check; a change that keeps size and time is not seen.
 * - Every file is written to a temporary name (`.ward-tmp-…`) in its directory and renamed into
 *   place only when complete and, when decrypting, when every block has authenticated; on any
 *   failure or abort the temporary file is removed. Files finished before a failure stay.
 * - Destination files without a source are left alone (like `rclone copy`, not `rclone sync`).
 * - Memory is flat: each of the `jobs` files in flight owns one input and one output buffer of
 *   BATCH blocks. With two threads, every other file's blocks are sealed or opened on the crypto
 *   thread (crypto-thread.ts) while the main thread does the rest and all the I/O.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { lstat, mkdir, open, readdir, realpath, rename, rm, chmod, utimes, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { WardError, isWardError } from '../errors.ts';
import {
  BLOCK_BYTES,
  BLOCK_DATA,
  HEADER_BYTES,
  NameCipher,
  decryptedSize,
  encryptedSize,
  fileHeader,
  newNonce,
  openBlocks,
  parseHeader,
  sealChunks,
  type NameOptions,
  type RcloneKeys,
} from '../formats/rclone/index.ts';
import { CryptoThread } from './crypto-thread.ts';

export interface TreeProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

export interface TreeOptions extends NameOptions {
  keys: RcloneKeys;
  /** Files processed at once; default 4. */
  jobs?: number;
  /**
   * Threads doing block crypto: 1 (the main thread; default) or 2 (every other file's blocks go to
   * a second thread, which costs ~20 MiB; used only when the machine has more than one CPU).
   */
  threads?: 1 | 2;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  /** Called often (after every block); throttle before printing. */
  onProgress?: (progress: TreeProgress) => void;
}

export interface TreeResult {
  /** Files written. */
  written: number;
  /** Files already up to date. */
  unchanged: number;
  /** Plaintext bytes processed. */
  bytes: number;
  directories: number;
  /** Symlinks and special files skipped. */
  skipped: number;
}

const TEMP_PREFIX = '.ward-tmp-';
const MTIME_WINDOW_MS = 1;
const MODE_BITS = 0o777;
/** Blocks per read and write: fewer system calls and promise turns per byte (256 KiB a batch). */
const BATCH = 4;

interface FileJob {
  from: string;
  to: string;
  rel: string;
  size: number;
  mode: number;
  atimeMs: number;
  mtimeMs: number;
}

interface DirJob {
  to: string;
  mode: number;
  atimeMs: number;
  mtimeMs: number;
}

interface Plan {
  dirs: DirJob[];
  files: FileJob[];
  skipped: number;
}

type Direction = 'encrypt' | 'decrypt';

function ioError(what: string, e: unknown): WardError {
  const detail = e instanceof Error && 'code' in e ? String((e as NodeJS.ErrnoException).code) : String(e);
  return new WardError('ERR_IO', `${what}: ${detail}`, { cause: e });
}

/** Re-throws a format error with the file it concerns; wraps anything else as ERR_IO. */
function located(rel: string, e: unknown): WardError {
  if (isWardError(e)) return new WardError(e.code, `${rel}: ${e.message}`, { cause: e, ...(e.hint ? { hint: e.hint } : {}) });
  return ioError(rel, e);
}

async function checkPaths(src: string, dst: string): Promise<[string, string]> {
  let realSrc: string;
  try {
    realSrc = await realpath(src);
    if (!(await lstat(realSrc)).isDirectory()) throw new WardError('ERR_USAGE', `${src} is not a directory`);
  } catch (e) {
    if (isWardError(e)) throw e;
    throw ioError(`cannot read ${src}`, e);
  }
  const absDst = resolve(dst);
  let realDst = absDst;
  try {
    realDst = await realpath(absDst);
  } catch {
    // does not exist yet
  }
  if (realDst === realSrc || realDst.startsWith(realSrc + sep)) {
    throw new WardError('ERR_USAGE', 'the destination is inside the source', { hint: 'choose a destination outside SRC' });
  }
  return [realSrc, absDst];
}

/** Walks the source, maps every name, and lists what to create. Reads nothing but directories. */
async function plan(direction: Direction, src: string, dst: string, names: NameCipher, warn: (m: string) => void): Promise<Plan & { nameVerified: boolean }> {
  const out: Plan = { dirs: [], files: [], skipped: 0 };
  let nameOk = 0;
  let nameError: WardError | undefined;
  const verifying = direction === 'decrypt' && names.mode === 'standard';

  const mapName = (rel: string, name: string, isDir: boolean): string | undefined => {
    if (direction === 'encrypt') return isDir ? names.encryptDirSegment(name) : names.encryptFileName(name);
    try {
      const plain = isDir ? names.decryptDirSegment(name) : names.decryptFileName(name);
      if (verifying && (!isDir || names.encryptDirectories)) nameOk++;
      return plain;
    } catch (e) {
      nameError ??= located(rel, e);
      return undefined;
    }
  };

  const walk = async (from: string, to: string, relDir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(from, { withFileTypes: true });
    } catch (e) {
      throw ioError(`cannot read ${from}`, e);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const taken = new Map<string, string>();
    for (const entry of entries) {
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      const full = join(from, entry.name);
      if (direction === 'decrypt' && entry.name.startsWith(TEMP_PREFIX)) {
        warn(`skipping ${rel}: a temporary file left by an interrupted run`);
        out.skipped++;
        continue;
      }
      if (!entry.isFile() && !entry.isDirectory()) {
        warn(`skipping ${rel}: ${entry.isSymbolicLink() ? 'symbolic link' : 'not a regular file or directory'}`);
        out.skipped++;
        continue;
      }
      const mapped = mapName(rel, entry.name, entry.isDirectory());
      if (mapped === undefined) continue;
      const other = taken.get(mapped);
      if (other !== undefined) {
        nameError ??= new WardError('ERR_RCLONE_NAME', `${rel} and ${relDir === '' ? '' : `${relDir}/`}${other} map to the same name`);
        continue;
      }
      taken.set(mapped, entry.name);
      let st;
      try {
        st = await lstat(full);
      } catch (e) {
        throw ioError(`cannot read ${rel}`, e);
      }
      const target = join(to, mapped);
      if (entry.isDirectory()) {
        out.dirs.push({ to: target, mode: st.mode & MODE_BITS, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs });
        await walk(full, target, rel);
      } else {
        out.files.push({ from: full, to: target, rel, size: st.size, mode: st.mode & MODE_BITS, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs });
      }
    }
  };
  await walk(src, dst, '');
  if (nameError !== undefined) {
    if (verifying && nameOk === 0) {
      throw new WardError('ERR_RCLONE_WRONG_PASSWORD', 'no name in the source decrypts: wrong password or salt', {
        cause: nameError,
        hint: 'check --password-file and --salt-file (rclone password2), and --filename-encryption and --directory-name-encryption',
      });
    }
    throw nameError;
  }
  return { ...out, nameVerified: verifying && nameOk > 0 };
}

async function readFull(fh: FileHandle, buf: Buffer, length: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, null);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function writeAll(fh: FileHandle, buf: Buffer, length: number): Promise<void> {
  let done = 0;
  while (done < length) done += (await fh.write(buf, done, length - done)).bytesWritten;
}

async function upToDate(job: FileJob, expectedSize: number): Promise<boolean> {
  try {
    const st = await lstat(job.to);
    if (!st.isFile() || st.size !== expectedSize || Math.abs(st.mtimeMs - job.mtimeMs) >= MTIME_WINDOW_MS) return false;
    if ((st.mode & MODE_BITS) !== job.mode) await chmod(job.to, job.mode);
    return true;
  } catch {
    return false;
  }
}

/** Where a slot's block crypto runs: on the main thread, or on the crypto thread. */
interface Engine {
  seal(nonce: Buffer, input: Buffer, output: Buffer, offset: number): number | Promise<number>;
  open(nonce: Buffer, input: Buffer, output: Buffer, first: number): number | Promise<number>;
}

function inlineEngine(key: Buffer): Engine {
  return {
    seal: (nonce, input, output, offset) => sealChunks(key, nonce, input, output, offset),
    open: (nonce, input, output, first) => openBlocks(key, nonce, input, output, first),
  };
}

/** Per-slot buffers, reused for every file the slot handles, and the slot's crypto engine. */
interface Buffers {
  input: Buffer;
  output: Buffer;
  engine: Engine;
}

function slotBuffers(engine: Engine, shared: boolean): Buffers {
  const alloc = (n: number) => (shared ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.alloc(n));
  return { input: alloc(BATCH * BLOCK_BYTES), output: alloc(HEADER_BYTES + BATCH * BLOCK_BYTES), engine };
}

type Worker = (job: FileJob, bufs: Buffers, tmp: FileHandle, step: (bytes: number) => void) => Promise<void>;

/** Writes `job` through `work` into a temporary file, then renames it into place. */
async function writeAtomically(job: FileJob, bufs: Buffers, work: Worker, step: (bytes: number) => void): Promise<void> {
  const tmpPath = join(job.to, '..', `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  let tmp: FileHandle | undefined;
  try {
    tmp = await open(tmpPath, 'wx', 0o600);
    await work(job, bufs, tmp, step);
    await tmp.chmod(job.mode);
    await tmp.utimes(job.atimeMs / 1000, job.mtimeMs / 1000);
    await tmp.close();
    tmp = undefined;
    await rename(tmpPath, job.to);
  } catch (e) {
    await tmp?.close().catch(() => undefined);
    await rm(tmpPath, { force: true }).catch(() => undefined);
    throw located(job.rel, e);
  }
}

function encryptWorker(signal: AbortSignal, warn: (m: string) => void): Worker {
  return async (job, bufs, tmp, step) => {
    const src = await open(job.from, 'r');
    try {
      const nonce = newNonce();
      fileHeader(nonce).copy(bufs.output, 0);
      let pending = HEADER_BYTES;
      let total = 0;
      for (;;) {
        signal.throwIfAborted();
        const n = await readFull(src, bufs.input, BATCH * BLOCK_DATA);
        if (n > 0) pending += await bufs.engine.seal(nonce, bufs.input.subarray(0, n), bufs.output, pending);
        if (pending > 0) await writeAll(tmp, bufs.output, pending);
        pending = 0;
        total += n;
        step(n);
        if (n < BATCH * BLOCK_DATA) break;
      }
      if (total !== job.size) warn(`${job.rel} changed while it was being encrypted`);
    } finally {
      await src.close();
    }
  };
}

function decryptWorker(signal: AbortSignal, verified: { value: boolean }): Worker {
  return async (job, bufs, tmp, step) => {
    const src = await open(job.from, 'r');
    try {
      const nonce = parseHeader(bufs.input.subarray(0, await readFull(src, bufs.input, HEADER_BYTES)));
      for (let block = 0; ; ) {
        signal.throwIfAborted();
        const n = await readFull(src, bufs.input, BATCH * BLOCK_BYTES);
        if (n === 0) break;
        let m: number;
        try {
          m = await bufs.engine.open(nonce, bufs.input.subarray(0, n), bufs.output, block);
        } catch (e) {
          if (isWardError(e) && e.code === 'ERR_RCLONE_BLOCK' && !verified.value) {
            throw new WardError('ERR_RCLONE_WRONG_PASSWORD', 'decryption failed: wrong password or salt, or tampered data', {
              cause: e,
              hint: 'check --password-file and --salt-file (rclone password2)',
            });
          }
          throw e;
        }
        verified.value = true;
        block += Math.ceil(n / BLOCK_BYTES);
        await writeAll(tmp, bufs.output, m);
        step(m);
        if (n < BATCH * BLOCK_BYTES) break;
      }
    } finally {
      await src.close();
    }
  };
}

async function run(direction: Direction, src: string, dst: string, opts: TreeOptions): Promise<TreeResult> {
  const warn = opts.onWarning ?? (() => undefined);
  const names = new NameCipher(opts.keys, opts);
  const [from, to] = await checkPaths(src, dst);
  const p = await plan(direction, from, to, names, warn);

  try {
    await mkdir(to, { recursive: true });
    for (const d of p.dirs) await mkdir(d.to, { recursive: true });
  } catch (e) {
    throw ioError(`cannot create the destination ${to}`, e);
  }

  const sizeOf = (job: FileJob) => (direction === 'encrypt' ? job.size : decryptedSize(job.size));
  const progress: TreeProgress = { files: 0, totalFiles: p.files.length, bytes: 0, totalBytes: 0 };
  for (const f of p.files) {
    try {
      progress.totalBytes += sizeOf(f);
    } catch (e) {
      throw located(f.rel, e);
    }
  }
  const result: TreeResult = { written: 0, unchanged: 0, bytes: 0, directories: p.dirs.length, skipped: p.skipped };
  const abort = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
  const verified = { value: p.nameVerified };
  const work = direction === 'encrypt' ? encryptWorker(signal, warn) : decryptWorker(signal, verified);
  const step = (n: number): void => {
    progress.bytes += n;
    result.bytes += n;
    opts.onProgress?.(progress);
  };

  let next = 0;
  let failure: unknown;
  const slot = async (bufs: Buffers): Promise<void> => {
    while (failure === undefined && next < p.files.length) {
      const job = p.files[next++]!;
      try {
        const expected = direction === 'encrypt' ? encryptedSize(job.size) : decryptedSize(job.size);
        if (await upToDate(job, expected)) {
          result.unchanged++;
          step(sizeOf(job));
        } else {
          await writeAtomically(job, bufs, work, step);
          result.written++;
        }
        progress.files++;
        opts.onProgress?.(progress);
      } catch (e) {
        failure ??= e;
        abort.abort();
      }
    }
  };
  const jobs = Math.max(1, Math.min(opts.jobs ?? 4, 64));
  const threads = availableParallelism() > 1 ? (opts.threads ?? 1) : 1;
  const key = Buffer.from(opts.keys.dataKey);
  const inline = inlineEngine(key);
  const thread = threads === 2 && jobs > 1 && p.files.length > 1 ? new CryptoThread(key) : undefined;
  try {
    // Odd slots use the crypto thread, so the two threads share the files about evenly.
    await Promise.all(Array.from({ length: jobs }, (_, i) => slot(thread && i % 2 === 1 ? slotBuffers(thread, true) : slotBuffers(inline, false))));
  } finally {
    key.fill(0);
    await thread?.close();
  }
  if (failure !== undefined) {
    // An abort from the caller (Ctrl-C) is reported as its own reason, not as the I/O error it caused.
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw failure;
  }

  // Directory modes and times last, deepest first: writing inside a directory changes its time.
  for (const d of [...p.dirs].reverse()) {
    try {
      await chmod(d.to, d.mode);
      await utimes(d.to, d.atimeMs / 1000, d.mtimeMs / 1000);
    } catch (e) {
      throw ioError(`cannot set the time of ${d.to}`, e);
    }
  }
  return result;
}

/**
 * Encrypts the tree SRC into DST in the rclone crypt format.
 * @throws WardError ERR_USAGE (bad paths), ERR_IO
 */
export function encryptTree(src: string, dst: string, opts: TreeOptions): Promise<TreeResult> {
  return run('encrypt', src, dst, opts);
}

/**
 * Decrypts the rclone crypt tree SRC into DST.
 * @throws WardError ERR_RCLONE_WRONG_PASSWORD, ERR_RCLONE_NAME, ERR_RCLONE_HEADER,
 *   ERR_RCLONE_TRUNCATED, ERR_RCLONE_BLOCK, ERR_USAGE, ERR_IO
 */
export function decryptTree(src: string, dst: string, opts: TreeOptions): Promise<TreeResult> {
  return run('decrypt', src, dst, opts);
}
