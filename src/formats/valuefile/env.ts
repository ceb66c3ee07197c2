/**
 * .env files, line by line, so everything but the values survives byte for byte: comments, blank
 * lines, `export ` prefixes, spacing around `=`, quote styles, trailing comments, CRLF endings.
 *
 *   line   = blank | "#" comment | ["export" ws] KEY ws? "=" ws? VALUE ws? ["#" comment]
 *   KEY    = [A-Za-z_][A-Za-z0-9_.-]*
 *   VALUE  = unquoted (ends before whitespace + "#") | 'single' (no escapes)
 *          | "double" (escapes \n \r \t \\ \" ; other backslashes kept as written)
 *
 * WARD: a quoted value spanning several lines is refused (ERR_VALUEFILE_SYNTAX); write it with \n.
 * The reserved entry is three lines appended at the end: WARD_RECIPIENTS, WARD_KEY, WARD_MAC.
 */
import { WardError } from '../../errors.ts';
import type { Leaf, Meta, ValueDocument } from './document.ts';
import type { ValueType } from './seal.ts';

type Quote = '' | "'" | '"';

interface Assignment {
  line: number;
  key: string;
  /** Everything before the value: `export KEY = `. */
  head: string;
  quote: Quote;
  value: string;
  /** Everything after the value: whitespace, a comment, a CR. */
  tail: string;
}

const ASSIGN = /^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*)(.*)$/s;
const RESERVED = ['WARD_RECIPIENTS', 'WARD_KEY', 'WARD_MAC'] as const;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"' };

function syntax(line: number, what: string): WardError {
  return new WardError('ERR_VALUEFILE_SYNTAX', `.env line ${line + 1}: ${what}`);
}

function parseValue(rest: string, line: number): { quote: Quote; value: string; tail: string } {
  const cr = rest.endsWith('\r') ? '\r' : '';
  const body = cr ? rest.slice(0, -1) : rest;
  const q = body[0];
  if (q === "'" || q === '"') {
    let value = '';
    let i = 1;
    for (; i < body.length && body[i] !== q; i++) {
      if (q === '"' && body[i] === '\\' && i + 1 < body.length) {
        const e = ESCAPES[body[i + 1]!];
        value += e ?? body.slice(i, i + 2);
        i++;
      } else value += body[i];
    }
    if (i >= body.length) throw syntax(line, 'unterminated quoted value (multi-line values must be written with \\n)');
    const tail = body.slice(i + 1);
    if (!/^(\s*|\s+#.*)$/s.test(tail)) throw syntax(line, 'unexpected text after the closing quote');
    return { quote: q, value, tail: tail + cr };
  }
  const m = /^(.*?)(\s*|\s+#.*)$/s.exec(body)!;
  return { quote: '', value: m[1]!, tail: m[2]! + cr };
}

function formatValue(value: string, quote: Quote): string {
  if (quote === "'" && !/['\n\r]/.test(value)) return `'${value}'`;
  if (quote === '' && !/^\s|\s$|^['"]|\s#|[\n\r]/.test(value)) return value;
  return `"${value.replace(/[\\"\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!)}"`;
}

export class EnvDocument implements ValueDocument {
  readonly #lines: string[];
  readonly #values: Assignment[] = [];
  readonly #reserved = new Map<string, Assignment>();

  constructor(text: string) {
    this.#lines = text.split('\n');
    const seen = new Set<string>();
    this.#lines.forEach((raw, line) => {
      const trimmed = raw.trim();
      if (trimmed === '' || trimmed.startsWith('#')) return;
      const m = ASSIGN.exec(raw);
      if (m === null) throw syntax(line, 'expected KEY=VALUE, a comment or a blank line');
      const key = m[2]!;
      if (seen.has(key)) throw syntax(line, `duplicate key ${key}`);
      seen.add(key);
      const a: Assignment = { line, key, head: m[1]!, ...parseValue(m[3]!, line) };
      if ((RESERVED as readonly string[]).includes(key)) this.#reserved.set(key, a);
      else this.#values.push(a);
    });
  }

  leaves(): Leaf[] {
    return this.#values.map((a) => ({ path: [a.key], type: 's', text: a.value }));
  }

  set(index: number, text: string, _type: ValueType): void {
    const a = this.#values[index]!;
    a.value = text;
    this.#lines[a.line] = a.head + formatValue(text, a.quote) + a.tail;
  }

  meta(): Meta | null {
    if (this.#reserved.size === 0) return null;
    const get = (k: string): string => {
      const a = this.#reserved.get(k);
      if (a === undefined) throw new WardError('ERR_VALUEFILE_FORMAT', `reserved entry ${k} is missing`);
      return a.value;
    };
    const key = /^v(\d+):age:(.*)$/.exec(get('WARD_KEY'));
    const mac = /^v(\d+):(.*)$/.exec(get('WARD_MAC'));
    if (key === null || mac === null) throw new WardError('ERR_VALUEFILE_FORMAT', 'WARD_KEY or WARD_MAC is malformed');
    if (key[1] !== mac[1]) throw new WardError('ERR_VALUEFILE_FORMAT', 'WARD_KEY and WARD_MAC have different versions');
    const recipients = get('WARD_RECIPIENTS');
    return { version: Number(key[1]), recipients: recipients === '' ? [] : recipients.split(','), key: key[2]!, mac: mac[2]! };
  }

  setMeta(meta: Meta | null): void {
    const drop = new Set([...this.#reserved.values()].map((a) => a.line));
    const kept = this.#lines.filter((_, i) => !drop.has(i));
    this.#lines.length = 0;
    this.#lines.push(...kept);
    for (const a of this.#values) a.line -= [...drop].filter((d) => d < a.line).length;
    this.#reserved.clear();
    if (meta === null) return;
    // Always at the end, so a changed MAC is a change of the last line only.
    if (this.#lines.length > 0 && this.#lines[this.#lines.length - 1] === '') this.#lines.pop();
    this.#lines.push(`WARD_RECIPIENTS=${meta.recipients.join(',')}`, `WARD_KEY=v${meta.version}:age:${meta.key}`, `WARD_MAC=v${meta.version}:${meta.mac}`, '');
  }

  toString(): string {
    return this.#lines.join('\n');
  }
}
