/**
 * age ASCII armor: strict PEM-like encoding of a binary age file.
 *
 * Spec: C2SP age, https://c2sp.org/age, "ASCII armor". Grammar:
 *
 *   armor = *WSP "-----BEGIN AGE ENCRYPTED FILE-----" EOL *(64base64 EOL) [short EOL]
 *           "-----END AGE ENCRYPTED FILE-----" [EOL] *WSP
 *   EOL   = LF / CRLF ; WSP here is space, tab, CR, LF
 *
 * Standard padded base64, canonical; every line but the last exactly 64 columns; the last 1..64
 * columns; no headers, no checksum, no blank lines, no whitespace inside lines.
 * WARD: at most {@link MAX_WHITESPACE} bytes of whitespace before and after (as Go age).
 */
import { WardError } from '../../errors.ts';
import type { Transformer } from './stream.ts';

export const BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
export const END = '-----END AGE ENCRYPTED FILE-----';
const COLUMNS = 64;
const BYTES_PER_LINE = 48;
export const MAX_WHITESPACE = 1024;
const MAX_LINE = 128;
const PADDED_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function armorError(message: string): WardError {
  return new WardError('ERR_AGE_ARMOR', `invalid armor: ${message}`);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Decodes armor into the binary age file, line by line, with constant memory. */
export class ArmorDecoder implements Transformer {
  #state: 'leading' | 'body' | 'trailing' = 'leading';
  #line = '';
  #whitespace = 0;
  #final = false; // the last base64 line was seen: only END may follow

  push(data: Buffer, out: Buffer[]): void {
    let i = 0;
    while (i < data.length) {
      if (this.#state !== 'body' && this.#line === '' && (this.#state === 'trailing' || isSpace(data[i]!))) {
        if (!isSpace(data[i]!)) throw armorError('trailing data after the end line');
        if (++this.#whitespace > MAX_WHITESPACE) throw armorError('too much whitespace');
        i++;
        continue;
      }
      const nl = data.indexOf(0x0a, i);
      const end = nl < 0 ? data.length : nl;
      this.#line += data.toString('latin1', i, end);
      if (this.#line.length > MAX_LINE) throw armorError('line too long');
      i = end;
      if (nl < 0) break;
      i++;
      const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
      this.#line = '';
      this.#onLine(line, out);
    }
  }

  #onLine(line: string, out: Buffer[]): void {
    if (this.#state === 'leading') {
      if (line !== BEGIN) throw armorError('missing begin line');
      this.#state = 'body';
      this.#whitespace = 0;
      return;
    }
    if (line === END) {
      this.#state = 'trailing';
      return;
    }
    if (this.#final) throw armorError(line === '' ? 'blank line' : 'short line before the end');
    if (line.length === 0) throw armorError('blank line');
    if (line.length > COLUMNS) throw armorError('line too long');
    if (line.length % 4 !== 0 || !PADDED_BASE64.test(line)) throw armorError('invalid base64 line');
    const bytes = Buffer.from(line, 'base64');
    if (bytes.toString('base64') !== line) throw armorError('non-canonical base64');
    if (line.length < COLUMNS || line.endsWith('=')) this.#final = true;
    out.push(bytes);
  }

  finish(_out: Buffer[]): void {
    if (this.#line !== '') {
      const line = this.#line;
      this.#line = '';
      if (this.#state !== 'body' || line !== END) throw armorError('missing end line');
      this.#state = 'trailing';
    }
    if (this.#state !== 'trailing') throw armorError('missing end line');
  }
}

/** Encodes a binary age file as armor. */
export class ArmorEncoder implements Transformer {
  readonly #rest = Buffer.alloc(BYTES_PER_LINE);
  #have = 0;
  #started = false;

  #start(out: Buffer[]): void {
    if (this.#started) return;
    this.#started = true;
    out.push(Buffer.from(`${BEGIN}\n`));
  }

  push(data: Buffer, out: Buffer[]): void {
    this.#start(out);
    let off = 0;
    if (this.#have > 0) {
      off = data.copy(this.#rest, this.#have);
      this.#have += off;
      if (this.#have < BYTES_PER_LINE) return;
      out.push(Buffer.from(`${this.#rest.toString('base64')}\n`));
      this.#have = 0;
    }
    const whole = Math.floor((data.length - off) / BYTES_PER_LINE) * BYTES_PER_LINE;
    if (whole > 0) {
      const b64 = data.subarray(off, off + whole).toString('base64');
      let s = '';
      for (let i = 0; i < b64.length; i += COLUMNS) s += `${b64.slice(i, i + COLUMNS)}\n`;
      out.push(Buffer.from(s));
      off += whole;
    }
    this.#have = data.copy(this.#rest, 0, off);
  }

  finish(out: Buffer[]): void {
    this.#start(out);
    const last = this.#have > 0 ? `${this.#rest.subarray(0, this.#have).toString('base64')}\n` : '';
    out.push(Buffer.from(`${last}${END}\n`));
    this.#have = 0;
  }
}
