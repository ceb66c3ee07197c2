/**
 * `[server] import_dir` (docs/sealed.md): a directory of configuration files sealed to the server,
 * imported at start and again whenever something in it changes (fs.watch, debounced), so a git
 * checkout of encrypted config is the source of truth for those secrets.
 *
 * Layout: `DIR/*.toml` are multi-environment files (one table per APP/ENV); `DIR/APP/ENV.env`,
 * `.toml`, `.yaml`, `.yml` or `.json` feed APP/ENV. Other files, and names starting with ".", are
 * ignored. Each file is imported on its own and audited (operation `secret.import`, identity
 * `ward-server`, source `import_dir`): a bad file is logged and audited as an error, never fatal,
 * and the others still load.
 */
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { WardError } from '../errors.ts';
import { formatFromPath, type ValueFileFormat } from '../formats/valuefile/index.ts';
import { isValidSegment } from '../pki/spiffe.ts';
import type { ServerContext } from './app.ts';
import { openImport, storeImport, type ImportResult } from './import.ts';
import type { ServerIdentity } from './import-identity.ts';

/** Largest file imported (the API's own import limit). */
export const MAX_IMPORT_FILE_BYTES = 1024 * 1024;
/** How often a sealed server looks again whether it can import. */
const SEALED_RETRY_MS = 5000;

export interface ImportDirOptions {
  dir: string;
  ctx: ServerContext;
  identity: ServerIdentity;
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void };
  /** Quiet time after the last change before reloading (default 500 ms). */
  debounceMs?: number;
}

export interface ImportDirWatcher {
  /** Settles when the load in progress (the first one, at start) is done. */
  idle(): Promise<void>;
  close(): void;
}

interface ImportFile {
  path: string;
  format: ValueFileFormat;
  target?: { app: string; env: string };
}

const KNOWN = new Set(['.env', '.toml', '.yaml', '.yml', '.json']);

/** The importable files of the directory, in a stable order. */
export function listImportFiles(dir: string): ImportFile[] {
  const files: ImportFile[] = [];
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.isFile() && extname(e.name) === '.toml') files.push({ path: join(dir, e.name), format: 'toml' });
    if (!e.isDirectory() || !isValidSegment(e.name)) continue;
    for (const f of readdirSync(join(dir, e.name), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const ext = extname(f.name);
      const env = f.name.slice(0, f.name.length - ext.length);
      const format = formatFromPath(f.name);
      if (!f.isFile() || f.name.startsWith('.') || !KNOWN.has(ext) || !isValidSegment(env) || format === null) continue;
      files.push({ path: join(dir, e.name, f.name), format, target: { app: e.name, env } });
    }
  }
  return files;
}

export function watchImportDir(o: ImportDirOptions): ImportDirWatcher {
  const { ctx, log } = o;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const audit = (file: string, outcome: string, detail: string) =>
    ctx.auditor
      .record({ time: ctx.now(), identity: 'ward-server', serial: '-', source: 'import_dir', operation: 'secret.import', path: file.slice(0, 512), outcome, detail: detail.slice(0, 512) })
      .catch((e: unknown) => log.error({ err: e }, 'cannot audit an import'));

  const importFile = async (f: ImportFile): Promise<ImportResult> => {
    if (statSync(f.path).size > MAX_IMPORT_FILE_BYTES) throw new WardError('ERR_API_TOO_LARGE', `larger than ${MAX_IMPORT_FILE_BYTES} bytes`);
    const text = readFileSync(f.path, 'utf8');
    const values = await openImport(text, f.format, await o.identity.identity(), f.target);
    return storeImport(ctx, values, 'ward-server:import_dir');
  };

  const loadAll = async () => {
    let files: ImportFile[];
    try {
      files = listImportFiles(o.dir);
    } catch (e) {
      log.error({ dir: o.dir, code: (e as NodeJS.ErrnoException).code }, 'cannot read import_dir');
      return;
    }
    for (const f of files) {
      if (closed) return;
      const name = relative(o.dir, f.path);
      try {
        const r = await importFile(f);
        if (r.written > 0) log.info({ file: name, written: r.written, unchanged: r.unchanged }, 'imported');
        await audit(name, 'granted', `written=${r.written} unchanged=${r.unchanged} envs=${r.envs.join(',')}`);
      } catch (e) {
        const code = e instanceof WardError ? e.code : 'ERR_INTERNAL';
        if (code === 'ERR_KEY_SEALED') {
          // the server identity opens only once the master key is unsealed: try again then
          log.info({ dir: o.dir }, 'import_dir waits for the server to be unsealed');
          clearTimeout(timer);
          timer = setTimeout(() => void schedule(), SEALED_RETRY_MS);
          return;
        }
        // a bad file is reported and skipped; never its content
        log.error({ file: name, code, reason: e instanceof WardError ? e.message : undefined }, 'import_dir: file not imported');
        await audit(name, 'error', code);
      }
    }
  };

  const schedule = () => {
    running = running.then(loadAll);
    return running;
  };
  schedule();

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(o.dir, { recursive: true, persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void schedule(), o.debounceMs ?? 500);
    });
    watcher.on('error', (e) => log.error({ err: e }, 'import_dir: watching stopped'));
  } catch (e) {
    log.error({ dir: o.dir, code: (e as NodeJS.ErrnoException).code }, 'import_dir: cannot watch; loaded at start only');
  }

  return {
    idle: () => running,
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
