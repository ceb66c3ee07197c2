/**
 * JSON (and TOML, toml.ts) files as plain data trees. JSON is re-serialized with its key order and
 * a 2-space indent (a file written that way round-trips byte for byte). The reserved entry is the
 * top-level object `_ward = {version, recipients, key, mac}`.
 *
 * Encrypted leaves: strings, numbers, booleans. null, TOML dates and empty containers stay as they
 * are (they hold no secret and are not covered by the MAC).
 */
import { WardError } from '../../errors.ts';
import type { Leaf, Meta, ValueDocument } from './document.ts';
import type { Segment, ValueType } from './seal.ts';

type Container = Record<string, unknown> | unknown[];

export const RESERVED_KEY = '_ward';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v));

/** Reads the `_ward` entry of a tree (also used by yaml.ts through plain JS). */
export function metaFromPlain(v: unknown): Meta {
  if (!isPlainObject(v) || typeof v.version !== 'number' || !Array.isArray(v.recipients) || !v.recipients.every((r) => typeof r === 'string') || typeof v.key !== 'string' || typeof v.mac !== 'string') {
    throw new WardError('ERR_VALUEFILE_FORMAT', 'the reserved _ward entry is malformed: expected {version, recipients, key, mac}');
  }
  return { version: v.version, recipients: v.recipients as string[], key: v.key, mac: v.mac };
}

export function metaToPlain(meta: Meta): Record<string, unknown> {
  return { version: meta.version, recipients: meta.recipients, key: meta.key, mac: meta.mac };
}

/**
 * The value to store for a leaf: a token stays a string; a plaintext gets its type back, a number
 * through the format's own number syntax (`1_000`, `0x1F`, `.inf`).
 */
export function typedValue(text: string, type: ValueType, isToken: boolean, parseNumber: (text: string) => number = Number): string | number | boolean {
  if (isToken || type === 's') return text;
  if (type === 'b') return text === 'true';
  return parseNumber(text);
}

interface Slot {
  parent: Container;
  key: string | number;
}

export class TreeDocument implements ValueDocument {
  readonly #root: Record<string, unknown>;
  readonly #serialize: (root: Record<string, unknown>) => string;
  readonly #slots: Slot[] = [];
  readonly #leaves: Leaf[] = [];
  readonly #parseNumber: (text: string) => number;

  constructor(root: unknown, serialize: (root: Record<string, unknown>) => string, parseNumber: (text: string) => number = Number) {
    this.#parseNumber = parseNumber;
    if (!isPlainObject(root)) throw new WardError('ERR_VALUEFILE_SYNTAX', 'the top level must be an object / table');
    this.#root = root;
    this.#serialize = serialize;
    this.#walk(root, []);
  }

  #walk(node: Container, path: Segment[]): void {
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, value] of entries) {
      if (node === this.#root && key === RESERVED_KEY) continue;
      const here = [...path, key];
      if (Array.isArray(value) || isPlainObject(value)) this.#walk(value, here);
      else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
        this.#slots.push({ parent: node, key });
        this.#leaves.push({ path: here, type: typeof value === 'string' ? 's' : typeof value === 'boolean' ? 'b' : 'n', text: String(value) });
      }
    }
  }

  leaves(): Leaf[] {
    return this.#leaves.map((l) => ({ ...l, path: [...l.path] }));
  }

  set(index: number, text: string, type: ValueType): void {
    const slot = this.#slots[index]!;
    const value = typedValue(text, type, text.startsWith('WARD['), this.#parseNumber);
    if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
    else slot.parent[slot.key as string] = value;
    this.#leaves[index]!.text = text;
  }

  meta(): Meta | null {
    return RESERVED_KEY in this.#root ? metaFromPlain(this.#root[RESERVED_KEY]) : null;
  }

  setMeta(meta: Meta | null): void {
    if (meta === null) delete this.#root[RESERVED_KEY];
    else this.#root[RESERVED_KEY] = metaToPlain(meta);
  }

  toString(): string {
    return this.#serialize(this.#root);
  }
}

export function jsonDocument(text: string): ValueDocument {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    // V8's message quotes the input, which may hold a secret.
    throw new WardError('ERR_VALUEFILE_SYNTAX', 'invalid JSON');
  }
  const newline = text.endsWith('\n') ? '\n' : '';
  return new TreeDocument(root, (r) => JSON.stringify(r, null, 2) + newline);
}
