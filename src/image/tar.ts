/**
 * Just enough tar (POSIX ustar, with GNU long names and pax `path`/`size` records on reading)
 * for docker-archive files: an index of a tar file's regular files and symlinks, and a writer
 * that streams entries whose size is known.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { WardError } from '../errors.ts';

const BLOCK = 512;

export interface TarEntry {
  name: string;
  /** Offset of the entry's data in the file. */
  offset: number;
  size: number;
  /** Symlink target, for type 2 entries. */
  link?: string;
}

const formatError = (why: string) => new WardError('ERR_IMAGE_FORMAT', `malformed tar archive: ${why}`);

function cstring(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

function parseSize(field: Buffer): number {
  if (field[0]! & 0x80) {
    // GNU base-256: big-endian, high bit of the first byte is the marker.
    let n = BigInt(field[0]! & 0x7f);
    for (let i = 1; i < field.length; i++) n = (n << 8n) | BigInt(field[i]!);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError('entry too large');
    return Number(n);
  }
  const s = cstring(field).trim();
  if (!/^[0-7]*$/.test(s)) throw formatError('bad size field');
  return s ? parseInt(s, 8) : 0;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const len = Number(data.subarray(i, sp).toString());
    if (sp < 0 || !Number.isInteger(len) || len <= 0 || i + len > data.length) throw formatError('bad pax record');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Indexes a tar file's regular files and symlinks by normalized path. */
export async function indexTar(path: string): Promise<Map<string, TarEntry>> {
  const fh: FileHandle = await open(path, 'r').catch((e: unknown) => {
    throw new WardError('ERR_IMAGE_NOT_FOUND', `cannot open ${path}`, { cause: e });
  });
  try {
    const { size: fileSize } = await fh.stat();
    const entries = new Map<string, TarEntry>();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let pax: Record<string, string> = {};
    while (pos + BLOCK <= fileSize) {
      await fh.read(header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
      if (sum !== parseInt(cstring(header.subarray(148, 156)).trim(), 8)) throw formatError('header checksum mismatch');
      const type = String.fromCharCode(header[156]!);
      let size = parseSize(header.subarray(124, 136));
      const dataOffset = pos + BLOCK;
      if (dataOffset + size > fileSize) throw new WardError('ERR_IMAGE_TRUNCATED', 'tar archive is truncated');
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L' || type === 'x') {
        if (size > 1 << 20) throw formatError('extended header too large');
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataOffset);
        if (type === 'L') longName = cstring(data);
        else pax = parsePax(data);
        pos = next;
        continue;
      }
      const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cstring(header.subarray(345, 500)) : '';
      let name = pax.path ?? longName ?? (prefix ? `${prefix}/${cstring(header.subarray(0, 100))}` : cstring(header.subarray(0, 100)));
      if (pax.size !== undefined) size = Number(pax.size);
      name = posix.normalize(name).replace(/^(\.\/)+/, '');
      if (type === '0' || type === '\0' || type === '7') entries.set(name, { name, offset: dataOffset, size });
      else if (type === '2') entries.set(name, { name, offset: 0, size: 0, link: pax.linkpath ?? cstring(header.subarray(157, 257)) });
      longName = undefined;
      pax = {};
      pos = next;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** Follows symlinks (docker save links duplicate layers) to a regular file. */
export function resolveEntry(entries: Map<string, TarEntry>, name: string): TarEntry | undefined {
  let e = entries.get(posix.normalize(name));
  for (let hops = 0; e?.link !== undefined && hops < 8; hops++) {
    e = entries.get(posix.normalize(posix.join(posix.dirname(e.name), e.link)));
  }
  return e?.link === undefined ? e : undefined;
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new TypeError(`tar name too long: ${name}`);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  if (size < 8 ** 11) {
    h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  } else {
    let n = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(n & 0xffn);
      n >>= 8n;
    }
    h[124] = 0x80;
  }
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h[156] = 0x30;
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

/**
 * Streams tar entries to `write`, which must be done with each buffer when its promise settles;
 * call {@link TarWriter.finish} to write the end blocks.
 */
export class TarWriter {
  readonly #write: (b: Buffer) => Promise<void>;

  constructor(write: (b: Buffer) => Promise<void>) {
    this.#write = write;
  }

  async add(name: string, size: number, data: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    await this.#write(header(name, size));
    let n = 0;
    for await (const c of data) {
      n += c.length;
      await this.#write(c);
    }
    if (n !== size) throw new WardError('ERR_IMAGE_TRUNCATED', `tar entry ${name} has ${n} bytes, expected ${size}`);
    if (size % BLOCK) await this.#write(Buffer.alloc(BLOCK - (size % BLOCK)));
  }

  async finish(): Promise<void> {
    await this.#write(Buffer.alloc(BLOCK * 2));
  }
}
