/**
 * TOML files. smol-toml parses them (the authority on keys, values and the order of values, as
 * for JSON); it keeps no comments, so when it can, Ward rewrites only the value tokens in place,
 * line by line, and everything else (comments, blank lines, spacing, key spelling, quoting)
 * survives byte for byte. In-place rewriting needs every encrypted value on its own `key = value`
 * line, as a one-line string, number or boolean:
 *
 *   line   = blank | "#" comment | "[" key "]" | "[[" key "]]" | key "=" value [comment]
 *   key    = segment *("." segment); segment = bare | "basic" | 'literal'
 *
 * WARD: a file with a value inside an array or inline table, a multi-line string or array, or
 * anything this scanner does not understand is re-serialized by smol-toml instead: its comments
 * and layout are lost (values and tables are kept). The reserved `[_ward]` table goes last.
 */
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { WardError } from '../../errors.ts';
import type { Leaf, Meta, ValueDocument } from './document.ts';
import type { Segment, ValueType } from './seal.ts';
import { RESERVED_KEY, TreeDocument, metaToPlain } from './tree.ts';

interface Located {
  line: number;
  start: number;
  end: number;
  quote: '"' | "'" | '';
  /** The string's value, or a number's or boolean's text as written. */
  value: string;
}

const key = (path: readonly Segment[]): string => JSON.stringify(path);
const BARE = /[A-Za-z0-9_-]/;
const REST = /^\s*(#[^\n]*)?$/;
const ESC: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

/** A one-line basic string starting at s[i] === '"'. */
function basic(s: string, i: number): { value: string; end: number } | null {
  if (s.startsWith('"""', i)) return null;
  let value = '';
  for (let j = i + 1; j < s.length; j++) {
    const c = s[j]!;
    if (c === '"') return { value, end: j + 1 };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = s[++j];
    if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = s.slice(j + 1, j + 1 + n);
      if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== n) return null;
      value += String.fromCodePoint(parseInt(hex, 16));
      j += n;
    } else if (e !== undefined && ESC[e] !== undefined) value += ESC[e];
    else return null;
  }
  return null;
}

function keyPath(s: string, i: number): { path: string[]; end: number } | null {
  const path: string[] = [];
  for (;;) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (s[i] === '"') {
      const r = basic(s, i);
      if (r === null) return null;
      path.push(r.value);
      i = r.end;
    } else if (s[i] === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return null;
      path.push(s.slice(i + 1, j));
      i = j + 1;
    } else {
      let j = i;
      while (j < s.length && BARE.test(s[j]!)) j++;
      if (j === i) return null;
      path.push(s.slice(i, j));
      i = j;
    }
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (s[i] !== '.') return { path, end: i };
    i++;
  }
}

/** An array or inline table that closes on its line (one-line strings inside are skipped). */
function closesOnLine(s: string): boolean {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote !== '') {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      if (s.startsWith(c.repeat(3), i)) return false;
      quote = c;
    } else if (c === '#') break;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return depth === 0 && quote === '';
}

/** Where each `key = value` line's value is, by key path; null when the file is not that simple. */
function scan(lines: readonly string[]): { values: Map<string, Located>; wardLine: number } | null {
  const values = new Map<string, Located>();
  let table: Segment[] = [];
  let wardLine = -1;
  const arrays = new Map<string, number>();
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const indent = line.length - line.trimStart().length;
    if (REST.test(line)) continue;
    if (line[indent] === '[') {
      const double = line.startsWith('[[', indent);
      const k = keyPath(line, indent + (double ? 2 : 1));
      if (k === null || !line.startsWith(double ? ']]' : ']', k.end) || !REST.test(line.slice(k.end + (double ? 2 : 1)))) return null;
      if (wardLine >= 0) return null; // [_ward] must be the last table
      const resolved: Segment[] = [];
      k.path.forEach((seg, i) => {
        resolved.push(seg);
        const count = arrays.get(key(resolved));
        if (count !== undefined && !(double && i === k.path.length - 1)) resolved.push(count - 1);
      });
      if (double) {
        const count = arrays.get(key(resolved)) ?? 0;
        arrays.set(key(resolved), count + 1);
        resolved.push(count);
      }
      if (!double && k.path.length === 1 && k.path[0] === RESERVED_KEY) wardLine = n;
      table = resolved;
      continue;
    }
    const k = keyPath(line, indent);
    if (k === null || line[k.end] !== '=') return null;
    let i = k.end + 1;
    while (line[i] === ' ' || line[i] === '\t') i++;
    let loc: Located;
    if (line[i] === '"') {
      const r = basic(line, i);
      if (r === null) return null;
      loc = { line: n, start: i, end: r.end, quote: '"', value: r.value };
    } else if (line[i] === "'") {
      const j = line.indexOf("'", i + 1);
      if (line.startsWith("'''", i) || j < 0) return null;
      loc = { line: n, start: i, end: j + 1, quote: "'", value: line.slice(i + 1, j) };
    } else if (line[i] === '[' || line[i] === '{') {
      if (!closesOnLine(line.slice(i))) return null;
      continue; // its values, if any, are not located: the caller falls back
    } else {
      let j = i;
      while (j < line.length && !/[\s#]/.test(line[j]!)) j++;
      loc = { line: n, start: i, end: j, quote: '', value: line.slice(i, j) };
    }
    if (!REST.test(line.slice(loc.end))) return null;
    const path = key([...table, ...k.path]);
    if (values.has(path)) return null;
    values.set(path, loc);
  }
  return { values, wardLine };
}

function quoteBasic(value: string): string {
  return `"${value.replace(/[\\"\p{Cc}]/gu, (c) => {
    const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  })}"`;
}

const tomlNumber = (text: string): number => (parseToml(`v = ${text}`) as { v: number }).v;

/** The file with its values rewritten in place (see the module comment). */
class TomlLines implements ValueDocument {
  readonly #tree: TreeDocument;
  readonly #lines: string[];
  readonly #at: Located[];
  readonly #leaves: Leaf[];
  readonly #wardLine: number;

  constructor(tree: TreeDocument, lines: string[], at: Located[], wardLine: number) {
    this.#tree = tree;
    this.#lines = lines;
    this.#at = at;
    this.#wardLine = wardLine;
    // Numbers and booleans as written (`1_000`, `0x1F`), so they decrypt to the same text.
    this.#leaves = tree.leaves().map((l, i) => (l.type === 's' ? l : { ...l, text: at[i]!.value }));
  }

  leaves(): Leaf[] {
    return this.#leaves.map((l) => ({ ...l, path: [...l.path] }));
  }

  set(index: number, text: string, type: ValueType): void {
    const loc = this.#at[index]!;
    const isToken = text.startsWith('WARD[');
    const token = isToken || type === 's' ? (loc.quote === "'" && !/['\p{Cc}]/u.test(text) ? `'${text}'` : quoteBasic(text)) : text;
    const line = this.#lines[loc.line]!;
    this.#lines[loc.line] = line.slice(0, loc.start) + token + line.slice(loc.end);
    loc.end = loc.start + token.length;
    this.#leaves[index]!.text = text;
  }

  meta(): Meta | null {
    return this.#tree.meta();
  }

  setMeta(meta: Meta | null): void {
    if (this.#wardLine >= 0) {
      this.#lines.length = this.#wardLine;
      while (this.#lines.length > 0 && this.#lines[this.#lines.length - 1]!.trim() === '') this.#lines.pop();
      this.#lines.push('');
    }
    if (meta === null) return;
    if (this.#lines.length > 0 && this.#lines[this.#lines.length - 1] === '') this.#lines.pop();
    this.#lines.push('', ...stringifyToml({ [RESERVED_KEY]: metaToPlain(meta) }).replace(/\n*$/, '').split('\n'), '');
  }

  toString(): string {
    return this.#lines.join('\n');
  }
}

export function tomlDocument(text: string): ValueDocument {
  let root: unknown;
  try {
    root = parseToml(text);
  } catch (e) {
    // Only the first line: the rest of smol-toml's message quotes the input.
    throw new WardError('ERR_VALUEFILE_SYNTAX', `invalid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
  const tree = new TreeDocument(root, (r) => stringifyToml(r).replace(/\n*$/, '\n'), tomlNumber);
  const lines = text.split('\n');
  const scanned = scan(lines);
  if (scanned === null) return tree;
  const at: Located[] = [];
  for (const leaf of tree.leaves()) {
    const loc = scanned.values.get(key(leaf.path));
    if (loc === undefined || (leaf.type === 's') !== (loc.quote !== '') || (leaf.type === 's' && loc.value !== leaf.text)) return tree;
    at.push(loc);
  }
  return new TomlLines(tree, lines, at, scanned.wardLine);
}
