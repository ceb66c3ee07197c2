/** `ward secret set|get|ls|rm|undelete|history|rollback`: thin calls to the admin API. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { WardError } from '../../errors.ts';
import { promptPassphrase } from '../passphrase.ts';
import { info } from '../ui.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { formatTime, printJson, printTable } from './format.ts';
import { parseScope, parseSecretPath, parseVersion } from './parse.ts';

/**
 * The largest value the server takes: its PUT body limit is 1 MiB and the base64 `value` may use
 * all but 1 KiB of it (src/server/schemas.ts), so 3 × ⌊(1 MiB − 1 KiB) / 4⌋ bytes.
 */
export const MAX_SECRET_BYTES = 3 * Math.floor((1024 * 1024 - 1024) / 4);

function tooLarge(from: string): WardError {
  return new WardError('ERR_API_TOO_LARGE', `the value in ${from} is larger than ${MAX_SECRET_BYTES} bytes`, { hint: 'Ward stores values up to 767 KiB; keep larger data encrypted elsewhere (ward encrypt)' });
}

/** Reads all of a file, refusing more than MAX_SECRET_BYTES. */
function readFdBounded(fd: number, from: string): Buffer {
  const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
  let off = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, off, buf.length - off, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      buf.fill(0);
      throw new WardError('ERR_IO', `cannot read ${from}: ${code ?? 'error'}`, { cause: e });
    }
    if (n === 0) break;
    off += n;
    if (off > MAX_SECRET_BYTES) {
      buf.fill(0);
      throw tooLarge(from);
    }
  }
  const value = Buffer.from(buf.subarray(0, off));
  buf.fill(0);
  return value;
}

/** Reads piped stdin (a stream: it may be a non-blocking pipe), refusing more than MAX_SECRET_BYTES. */
async function readStdinBounded(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      chunks.push(chunk);
      if (size > MAX_SECRET_BYTES) throw tooLarge('standard input');
    }
    return Buffer.concat(chunks);
  } catch (e) {
    if (e instanceof WardError) throw e;
    throw new WardError('ERR_IO', `cannot read standard input: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  } finally {
    for (const c of chunks) c.fill(0);
  }
}

/**
 * The value to store: from --from-file FILE, from piped stdin, or typed at the terminal without
 * echo (asked twice). Never from an argument.
 */
export async function readValue(fromFile: string | undefined, what: string): Promise<Buffer> {
  let value: Buffer;
  if (fromFile !== undefined && fromFile !== '-') {
    let fd: number;
    try {
      fd = openSync(fromFile, 'r');
    } catch (e) {
      throw new WardError('ERR_IO', `cannot open ${fromFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
    }
    try {
      const st = fstatSync(fd);
      if (st.isFile() && st.size > MAX_SECRET_BYTES) throw tooLarge(fromFile);
      value = readFdBounded(fd, fromFile);
    } finally {
      closeSync(fd);
    }
  } else if (isatty(0) && fromFile === undefined) {
    value = await promptPassphrase(`value for ${what} (not echoed):`);
    const again = await promptPassphrase('again, to confirm:');
    const same = value.equals(again);
    again.fill(0);
    if (!same) {
      value.fill(0);
      throw new WardError('ERR_USAGE', 'the two values typed differ', { hint: 'nothing was stored; try again, or use --from-file FILE' });
    }
  } else {
    if (isatty(0)) {
      throw new WardError('ERR_USAGE', 'refusing to read a secret from the terminal with echo on', { hint: 'leave out --from-file - to be asked without echo, or pipe the value in' });
    }
    value = await readStdinBounded();
  }
  if (value.length === 0) throw new WardError('ERR_USAGE', `empty value for ${what}`, { hint: 'pipe the value on stdin or pass --from-file FILE' });
  return value;
}

export interface SetOptions extends ContextFlags {
  fromFile?: string;
  cas?: string;
  file?: boolean;
  json?: boolean;
}

export async function setSecret(pathText: string, opts: SetOptions): Promise<void> {
  const path = parseSecretPath(pathText);
  const cas = opts.cas === undefined ? undefined : parseVersion(opts.cas, '--cas', true);
  // find the server and identity first, so a bad setup fails before anyone types a secret
  const r = await withClient(opts, async ({ client }) => {
    const value = await readValue(opts.fromFile, pathText);
    try {
      return await client.putSecret(path, value, { ...(cas === undefined ? {} : { cas }), ...(opts.file ? { kind: 'file' as const } : {}) });
    } finally {
      value.fill(0);
    }
  });
  if (opts.json) printJson({ ...path, version: r.version });
  else info(`stored ${pathText} version ${r.version}`);
}

export async function getSecret(pathText: string, opts: ContextFlags & { version?: string; json?: boolean }): Promise<void> {
  const path = parseSecretPath(pathText);
  const version = opts.version === undefined ? undefined : parseVersion(opts.version, '--version');
  const s = await withClient(opts, ({ client }) => client.getSecret(path, version));
  try {
    if (opts.json) {
      printJson({ app: s.app, env: s.env, name: s.name, version: s.version, kind: s.kind, sealed: s.sealed, createdAt: formatTime(s.createdAt), size: s.value.length });
      return;
    }
    // the raw bytes, exactly as stored (a value may be binary): asked for explicitly, so to stdout
    await new Promise<void>((resolve, reject) => process.stdout.write(s.value, (e) => (e ? reject(e) : resolve())));
    // on a terminal, end the line without changing what stdout carries
    if (isatty(1) && s.value.at(-1) !== 0x0a) process.stderr.write('\n');
  } finally {
    s.value.fill(0);
  }
}

export async function listSecrets(scopeText: string | undefined, opts: ContextFlags & { deleted?: boolean; json?: boolean }): Promise<void> {
  const scope = parseScope(scopeText);
  const items = await withClient(opts, async ({ client }) => {
    const all = [];
    for await (const item of client.listSecrets({ ...scope, deleted: opts.deleted === true, limit: 1000 })) all.push(item);
    return all;
  });
  if (opts.json) {
    printJson(items);
    return;
  }
  const rows = items.map((i) => [
    `${i.app}/${i.env}/${i.name}`,
    String(i.currentVersion),
    i.kind + (i.sealed ? ',sealed' : ''),
    formatTime(i.updatedAt),
    ...(opts.deleted ? [formatTime(i.deletedAt)] : []),
  ]);
  printTable(['PATH', 'VERSION', 'KIND', 'UPDATED', ...(opts.deleted ? ['DELETED'] : [])], rows);
}

export async function removeSecret(pathText: string, opts: ContextFlags & { destroy?: boolean }): Promise<void> {
  const path = parseSecretPath(pathText);
  await withClient(opts, async ({ client }) => {
    if (opts.destroy) {
      const r = await client.destroySecret(path);
      info(`destroyed ${r.destroyed} version(s) of ${pathText}`);
    }
    await client.deleteSecret(path);
  });
  info(`deleted ${pathText}${opts.destroy ? '' : ' (ward secret undelete restores it)'}`);
}

export async function undeleteSecret(pathText: string, opts: ContextFlags): Promise<void> {
  const path = parseSecretPath(pathText);
  await withClient(opts, ({ client }) => client.undeleteSecret(path));
  info(`restored ${pathText}`);
}

export async function secretHistory(pathText: string, opts: ContextFlags & { json?: boolean }): Promise<void> {
  const path = parseSecretPath(pathText);
  const versions = await withClient(opts, ({ client }) => client.history(path));
  if (opts.json) {
    printJson(versions);
    return;
  }
  printTable(
    ['VERSION', 'CREATED', 'BY', 'KIND', 'STATE'],
    versions.map((v) => [String(v.version), formatTime(v.createdAt), v.createdBy, v.kind + (v.sealed ? ',sealed' : ''), v.destroyedAt == null ? 'live' : `destroyed ${formatTime(v.destroyedAt)}`]),
  );
}

export async function rollbackSecret(pathText: string, versionText: string, opts: ContextFlags & { json?: boolean }): Promise<void> {
  const path = parseSecretPath(pathText);
  const version = parseVersion(versionText, 'VERSION');
  const r = await withClient(opts, ({ client }) => client.rollback(path, version));
  if (opts.json) printJson({ ...path, version: r.version, from: version });
  else info(`${pathText} is now version ${r.version} (the value of version ${version})`);
}
