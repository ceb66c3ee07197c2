/**
 * Secret files of `ward run`: secrets of kind `file` and rendered `--template SRC:DST`s, written
 * into one memory-backed directory (memfs.ts) that the app finds in `WARD_FILES`.
 *
 * - The directory is 0700; each file is 0400 and appears atomically (written under a temporary
 *   name created with O_EXCL, then renamed), so an app re-reading a file after SIGHUP never sees
 *   half of it.
 * - A file secret NAME is written as DIR/NAME (names cannot contain "/" or start with "."). A
 *   template's DST is relative to DIR (no ".." allowed), or an absolute path whose directory must
 *   itself be memory-backed unless --allow-disk.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { WardError } from '../../errors.ts';
import { defaultFilesParent, isMemoryBacked, makeFilesDir } from './memfs.ts';
import { renderTemplate, templateRefs, type Lookup } from './template.ts';

export interface TemplateSpec {
  src: string;
  dst: string;
  /** The template text (no secrets: it holds only references). */
  source: string;
}

/**
 * Parses `SRC:DST` and reads SRC.
 * @throws WardError ERR_USAGE (malformed, DST escapes the files dir), ERR_IO (SRC unreadable)
 */
export function parseTemplateSpec(spec: string): TemplateSpec {
  const colon = spec.lastIndexOf(':');
  if (colon <= 0 || colon === spec.length - 1) throw new WardError('ERR_USAGE', `invalid --template ${JSON.stringify(spec)}`, { hint: 'use --template SRC:DST, e.g. --template app.conf.tmpl:app.conf' });
  const src = spec.slice(0, colon);
  const dst = spec.slice(colon + 1);
  if (!isAbsolute(dst) && (normalize(dst).split(sep).includes('..') || dst.startsWith('.'))) {
    throw new WardError('ERR_USAGE', `--template destination ${JSON.stringify(dst)} must stay inside the files directory`);
  }
  let source: string;
  try {
    source = readFileSync(src, 'utf8');
  } catch (e) {
    throw new WardError('ERR_IO', `cannot read template ${src}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  templateRefs(source, src);
  return { src, dst, source };
}

/**
 * The directory for this run's files: `dir` itself when given (created 0700 if missing), else a
 * fresh private directory under $XDG_RUNTIME_DIR or /dev/shm.
 * @throws WardError ERR_RUN_DISK when the directory is not memory-backed and !allowDisk
 */
export function openFilesDir(dir: string | undefined, allowDisk: boolean, env: NodeJS.ProcessEnv = process.env): string {
  if (dir === undefined) return makeFilesDir(allowDisk ? (tryDefaultParent(env) ?? '/tmp') : defaultFilesParent(env), allowDisk);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkMemory(dir, allowDisk);
  return dir;
}

function tryDefaultParent(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return defaultFilesParent(env);
  } catch {
    return undefined;
  }
}

function checkMemory(dir: string, allowDisk: boolean): void {
  if (!allowDisk && !isMemoryBacked(dir)) {
    throw new WardError('ERR_RUN_DISK', `${dir} is not memory-backed; secret files would reach a disk`, {
      hint: 'use a tmpfs such as /dev/shm, or pass --allow-disk if you accept that',
    });
  }
}

/** Writes `data` to `path` with mode 0400, atomically. */
export function writeSecretFile(path: string, data: Buffer): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o400);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export interface FileSecret {
  name: string;
  value: Buffer;
}

/**
 * Writes every file secret and renders every template; returns the paths written. Every template
 * is rendered before anything is written, so a bad template leaves the directory as it was. Files
 * written by an earlier call (`previous`) that are no longer wanted are removed.
 * @throws WardError ERR_TEMPLATE (unknown reference), ERR_RUN_DISK, ERR_IO
 */
export function writeFiles(dir: string, files: FileSecret[], templates: TemplateSpec[], lookup: Lookup, allowDisk: boolean, previous: readonly string[] = []): string[] {
  const outputs: { path: string; data: Buffer; rendered: boolean }[] = files.map((f) => ({ path: join(dir, f.name), data: f.value, rendered: false }));
  try {
    for (const t of templates) {
      const path = isAbsolute(t.dst) ? t.dst : join(dir, t.dst);
      if (isAbsolute(t.dst)) checkMemory(dirname(path), allowDisk);
      outputs.push({ path, data: renderTemplate(t.source, t.src, lookup), rendered: true });
    }
    for (const o of outputs) {
      mkdirSync(dirname(o.path), { recursive: true, mode: 0o700 });
      writeSecretFile(o.path, o.data);
    }
  } finally {
    for (const o of outputs) if (o.rendered) o.data.fill(0);
  }
  const written = outputs.map((o) => o.path);
  for (const old of previous) if (!written.includes(old)) rmSync(old, { force: true });
  return written;
}
