/**
 * Reading passphrases for the CLI. A passphrase never comes from a command-line argument: it is
 * read from the terminal without echo (/dev/tty, so stdin stays free for data), or, for scripts,
 * from a file (`--passphrase-file`, env WARD_PASSPHRASE_FILE) or an inherited file descriptor
 * (`--passphrase-fd`). From a file or fd the first line is used, without its line ending.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { WardError } from '../errors.ts';

export interface PassphraseOptions {
  passphraseFile?: string;
  passphraseFd?: string;
}

function firstLine(data: Buffer, from: string): Buffer {
  let end = data.indexOf(0x0a);
  if (end < 0) end = data.length;
  if (end > 0 && data[end - 1] === 0x0d) end--;
  const line = Buffer.from(data.subarray(0, end));
  data.fill(0);
  if (line.length === 0) throw new WardError('ERR_PASSPHRASE', `empty passphrase in ${from}`);
  return line;
}

/** The passphrase from a file or fd if one was given, else null. */
export function passphraseFromOptions(opts: PassphraseOptions): Buffer | null {
  const file = opts.passphraseFile ?? process.env.WARD_PASSPHRASE_FILE;
  if (opts.passphraseFd !== undefined) {
    if (!/^\d+$/.test(opts.passphraseFd)) throw new WardError('ERR_USAGE', `invalid --passphrase-fd ${JSON.stringify(opts.passphraseFd)}`);
    try {
      return firstLine(readFileSync(Number(opts.passphraseFd)), `fd ${opts.passphraseFd}`);
    } catch (e) {
      if (e instanceof WardError) throw e;
      throw new WardError('ERR_PASSPHRASE', `cannot read the passphrase from fd ${opts.passphraseFd}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (file !== undefined && file !== '') {
    try {
      return firstLine(readFileSync(file), file);
    } catch (e) {
      if (e instanceof WardError) throw e;
      throw new WardError('ERR_PASSPHRASE', `cannot read the passphrase file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return null;
}

/** Prompts on the controlling terminal with echo off. */
export async function promptPassphrase(prompt: string): Promise<Buffer> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    throw new WardError('ERR_PASSPHRASE', 'no terminal to read the passphrase from', { hint: 'use --passphrase-file FILE or --passphrase-fd N' });
  }
  const input = new ReadStream(fd);
  const output = new WriteStream(fd);
  try {
    // Echo off before the prompt appears, so nothing typed after seeing it is ever echoed.
    input.setRawMode(true);
    output.write(`ward: ${prompt} `);
    const bytes: number[] = [];
    const line = await new Promise<Buffer>((resolve, reject) => {
      input.on('data', (chunk: Buffer) => {
        for (const b of chunk) {
          if (b === 0x0d || b === 0x0a) return resolve(Buffer.from(bytes));
          if (b === 0x03 || b === 0x04) return reject(new WardError('ERR_PASSPHRASE', 'passphrase entry cancelled'));
          if (b === 0x7f || b === 0x08) bytes.pop();
          else bytes.push(b);
        }
      });
      input.on('error', reject);
    });
    bytes.fill(0);
    return line;
  } finally {
    output.write('\n');
    try {
      input.setRawMode(false);
    } catch {
      // terminal already gone
    }
    input.destroy();
    output.destroy();
    try {
      closeSync(fd);
    } catch {
      // closed by destroy
    }
  }
}

/** For decryption: file/fd if given, else the terminal. */
export async function readPassphrase(opts: PassphraseOptions): Promise<Buffer> {
  const p = passphraseFromOptions(opts) ?? (await promptPassphrase('enter passphrase:'));
  if (p.length === 0) throw new WardError('ERR_PASSPHRASE', 'empty passphrase');
  return p;
}

/** For encryption: file/fd if given, else the terminal, asked twice. */
export async function readNewPassphrase(opts: PassphraseOptions): Promise<Buffer> {
  const given = passphraseFromOptions(opts);
  if (given) return given;
  const first = await promptPassphrase('enter passphrase:');
  if (first.length === 0) throw new WardError('ERR_PASSPHRASE', 'empty passphrase');
  const second = await promptPassphrase('confirm passphrase:');
  const same = first.equals(second);
  second.fill(0);
  if (!same) {
    first.fill(0);
    throw new WardError('ERR_PASSPHRASE', 'passphrases did not match');
  }
  return first;
}
