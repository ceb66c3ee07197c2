/**
 * `ward dir encrypt|decrypt`: reads the password (file, env or terminal) or the folder key held by
 * the Ward server (--key), derives the rclone crypt keys, runs the tree driver
 * (src/fs/crypt-tree.ts), and shows progress on a terminal.
 */
import { readFileSync } from 'node:fs';
import { WardError } from '../errors.ts';
import { deriveKeys, reveal, zeroKeys, type RcloneKeys } from '../formats/rclone/index.ts';
import { decryptTree, encryptTree, type TreeProgress } from '../fs/crypt-tree.ts';
import type { DirFlags } from './commands/dir.ts';
import { promptPassphrase } from './passphrase.ts';
import { info, warn } from './ui.ts';

const MAX_SECRET_FILE = 64 * 1024;

/** The first line of FILE, without its line ending. */
function readSecretFile(file: string, what: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    throw new WardError('ERR_PASSPHRASE', `cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (data.length > MAX_SECRET_FILE) throw new WardError('ERR_PASSPHRASE', `the ${what} file ${file} is larger than 64 KiB`);
  let end = data.indexOf(0x0a);
  if (end < 0) end = data.length;
  if (end > 0 && data[end - 1] === 0x0d) end--;
  const line = Buffer.from(data.subarray(0, end));
  data.fill(0);
  return line;
}

function unobscure(value: Buffer, obscured: boolean): Buffer {
  if (!obscured) return value;
  const plain = reveal(value.toString('utf8'));
  value.fill(0);
  return plain;
}

async function password(flags: DirFlags): Promise<Buffer> {
  const file = flags.passwordFile ?? process.env.WARD_DIR_PASSWORD_FILE;
  let pw: Buffer;
  if (file !== undefined && file !== '') pw = unobscure(readSecretFile(file, 'password'), flags.obscured === true);
  else if (process.stdin.isTTY) pw = await promptPassphrase('Enter the crypt password: ');
  else throw new WardError('ERR_USAGE', 'no password: give --password-file FILE', { hint: 'or set WARD_DIR_PASSWORD_FILE' });
  // rclone would derive all-zero keys from an empty password: never what a user means.
  if (pw.length === 0) throw new WardError('ERR_PASSPHRASE', 'the crypt password is empty');
  return pw;
}

async function localKeys(flags: DirFlags): Promise<RcloneKeys> {
  const pw = await password(flags);
  const salt = flags.saltFile === undefined ? undefined : unobscure(readSecretFile(flags.saltFile, 'salt'), flags.obscured === true);
  try {
    return await deriveKeys(pw, salt);
  } finally {
    pw.fill(0);
    salt?.fill(0);
  }
}

/**
 * The folder key held by the Ward server as secret `path`. `encrypt` creates it when the server
 * does not hand it out (absent, or denied: a workload is not told which): the create is check-and-set 0,
 * so an existing key is never replaced; a create that loses a race reads the winner's key.
 */
async function serverKeys(action: 'encrypt' | 'decrypt', path: string, flags: DirFlags): Promise<RcloneKeys> {
  if (flags.passwordFile !== undefined || flags.saltFile !== undefined || flags.obscured) {
    throw new WardError('ERR_USAGE', '--key excludes --password-file, --salt-file and --obscured');
  }
  const [{ parseSecretRef, formatSecretRef }, { withClient }, { folderKeys, newFolderKey }] = await Promise.all([
    import('../image/ward-keys.ts'), import('./context.ts'), import('../client/run/unlock.ts'),
  ]);
  const ref = parseSecretRef(path);
  const name = formatSecretRef(ref);
  const value = await withClient(flags, async ({ client }) => {
    try {
      return (await client.getSecret(ref)).value;
    } catch (e) {
      if (action === 'decrypt' || !(e instanceof WardError && (e.code === 'ERR_API_DENIED' || e.code === 'ERR_API_NOT_FOUND'))) throw e;
      const fresh = newFolderKey();
      try {
        await client.putSecret(ref, fresh, { cas: 0 });
      } catch (put) {
        fresh.fill(0);
        // it exists after all: readable if another run just made it, else the first refusal stands
        if (put instanceof WardError && put.code === 'ERR_API_CONFLICT') return (await client.getSecret(ref).catch(() => { throw e; })).value;
        throw put;
      }
      if (process.stderr.isTTY) info(`created the folder key ${name}`);
      return fresh;
    }
  });
  try {
    return await folderKeys(value, `secret ${name}`);
  } finally {
    value.fill(0);
  }
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** A one-line progress display on a terminal's stderr, redrawn at most 10 times a second. */
function progressLine(enabled: boolean): { update: (p: TreeProgress) => void; done: () => void } {
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (!enabled || now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\rward: ${p.files}/${p.totalFiles} files, ${mb(p.bytes)}/${mb(p.totalBytes)}\x1b[K`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

export async function runDir(action: 'encrypt' | 'decrypt', src: string, dst: string, flags: DirFlags): Promise<void> {
  if (!/^\d+$/.test(flags.jobs) || Number(flags.jobs) < 1 || Number(flags.jobs) > 64) {
    throw new WardError('ERR_USAGE', `invalid --jobs ${JSON.stringify(flags.jobs)}`, { hint: 'a number from 1 to 64' });
  }
  const keys = flags.key === undefined ? await localKeys(flags) : await serverKeys(action, flags.key, flags);

  const tty = process.stderr.isTTY === true;
  const progress = progressLine(tty);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new WardError('ERR_IO', 'interrupted; no partial file was left behind'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const run = action === 'encrypt' ? encryptTree : decryptTree;
    const result = await run(src, dst, {
      keys,
      filenameEncryption: flags.filenameEncryption,
      directoryNameEncryption: flags.directoryNameEncryption === 'true',
      jobs: Number(flags.jobs),
      threads: flags.threads === '2' ? 2 : 1,
      signal: abort.signal,
      onWarning: (m) => {
        progress.done();
        warn(m);
      },
      onProgress: progress.update,
    });
    progress.done();
    if (tty) info(`${action}ed ${result.written} files (${mb(result.bytes)}), ${result.unchanged} unchanged, ${result.skipped} skipped`);
  } finally {
    progress.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    zeroKeys(keys);
  }
}
