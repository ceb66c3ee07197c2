/**
 * The age v1 header: parse and serialize.
 *
 * Spec: C2SP age, https://c2sp.org/age (age-encryption.org/v1), "Header". Grammar:
 *
 *   header  = "age-encryption.org/v1" LF 1*stanza "---" SP mac LF
 *   stanza  = "->" 1*(SP arg) LF body
 *   arg     = 1*VCHAR                     ; ASCII 33..126
 *   body    = *(64base64 LF) short LF     ; short: 0..63 base64 chars, canonical, no padding
 *   mac     = 43base64                    ; HMAC-SHA256, canonical, no padding
 *
 * The MAC covers the header bytes as received up to and including "---" ({@link Header.headerNoMac}),
 * never a re-encoding. LF only: a CR anywhere is rejected (no malleability).
 * WARD: limits the spec leaves open: a header line is at most {@link MAX_LINE} bytes, the whole
 * header at most {@link MAX_HEADER} bytes and {@link MAX_STANZAS} stanzas.
 */
import { WardError } from '../../errors.ts';
import { decodeBase64Strict, encodeBase64NoPad } from './base64.ts';

export const INTRO = 'age-encryption.org/v1';
const STANZA_PREFIX = '-> ';
const MAC_PREFIX = '---';
export const MAX_LINE = 16 * 1024;
export const MAX_HEADER = 1024 * 1024;
export const MAX_STANZAS = 4096;
const BODY_COLUMNS = 64;

export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

export interface Header {
  stanzas: Stanza[];
  mac: Buffer;
  /** The received bytes from the start through "---": what the MAC covers. */
  headerNoMac: Buffer;
}

function headerError(message: string): WardError {
  return new WardError('ERR_AGE_HEADER', `invalid age header: ${message}`);
}

const LF = 0x0a;

function isArgChar(c: number): boolean {
  return c >= 33 && c <= 126;
}

/**
 * Parses a header from the start of `buf`. Returns null when `buf` ends before the header does
 * (call again with more bytes), or the header and the number of bytes it used.
 * @throws WardError ERR_AGE_HEADER
 */
export function parseHeader(buf: Buffer): { header: Header; length: number } | null {
  let pos = 0;
  // Next line without its LF, or null if incomplete.
  const line = (): string | null => {
    const end = buf.indexOf(LF, pos);
    if (end < 0) {
      if (buf.length - pos > MAX_LINE) throw headerError('line too long');
      if (buf.length > MAX_HEADER) throw headerError('header too large');
      return null;
    }
    if (end - pos > MAX_LINE) throw headerError('line too long');
    if (end >= MAX_HEADER) throw headerError('header too large');
    const s = buf.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };

  const intro = line();
  if (intro === null) {
    // Fail early on a file that is clearly not age, instead of waiting for a newline.
    const have = buf.toString('latin1', 0, Math.min(buf.length, INTRO.length));
    if (!INTRO.startsWith(have)) throw headerError('not an age file (unknown version line)');
    return null;
  }
  if (intro !== INTRO) throw headerError('unknown version line');

  const stanzas: Stanza[] = [];
  let next = line();
  for (;;) {
    if (next === null) return null;
    if (next.startsWith(STANZA_PREFIX)) {
      if (stanzas.length >= MAX_STANZAS) throw headerError('too many stanzas');
      const args = next.slice(STANZA_PREFIX.length).split(' ');
      for (const a of args) {
        if (a.length === 0) throw headerError('empty stanza argument');
        for (let i = 0; i < a.length; i++) if (!isArgChar(a.charCodeAt(i))) throw headerError('invalid character in stanza argument');
      }
      const lines: string[] = [];
      for (;;) {
        const b = line();
        if (b === null) return null;
        if (b.length > BODY_COLUMNS) throw headerError('stanza body line too long');
        lines.push(b);
        if (b.length < BODY_COLUMNS) break;
      }
      const body = decodeBase64Strict(lines.join(''));
      if (body === null) throw headerError('stanza body is not canonical base64');
      stanzas.push({ type: args[0]!, args: args.slice(1), body });
      next = line();
      continue;
    }
    if (next.startsWith(MAC_PREFIX)) {
      if (stanzas.length === 0) throw headerError('no recipient stanzas');
      if (!next.startsWith(`${MAC_PREFIX} `)) throw headerError('malformed mac line');
      const mac = decodeBase64Strict(next.slice(MAC_PREFIX.length + 1));
      if (mac === null || mac.length !== 32) throw headerError('malformed mac');
      const macLineStart = pos - next.length - 1;
      const headerNoMac = Buffer.from(buf.subarray(0, macLineStart + MAC_PREFIX.length));
      return { header: { stanzas, mac, headerNoMac }, length: pos };
    }
    throw headerError('unexpected line');
  }
}

/** Serializes the header up to and including "---" (the bytes the MAC covers). */
export function serializeHeaderNoMac(stanzas: readonly Stanza[]): Buffer {
  let s = `${INTRO}\n`;
  for (const st of stanzas) {
    s += `${STANZA_PREFIX}${[st.type, ...st.args].join(' ')}\n`;
    const b64 = encodeBase64NoPad(st.body);
    for (let i = 0; i + BODY_COLUMNS <= b64.length; i += BODY_COLUMNS) s += `${b64.slice(i, i + BODY_COLUMNS)}\n`;
    s += `${b64.slice(b64.length - (b64.length % BODY_COLUMNS))}\n`;
  }
  return Buffer.from(`${s}${MAC_PREFIX}`, 'latin1');
}

/** Serializes a whole header: `serializeHeader(parseHeader(b).header)` equals the header bytes of `b`. */
export function serializeHeader(header: { stanzas: readonly Stanza[]; mac: Buffer }): Buffer {
  const noMac = serializeHeaderNoMac(header.stanzas);
  return Buffer.concat([noMac, Buffer.from(` ${encodeBase64NoPad(header.mac)}\n`, 'latin1')]);
}
