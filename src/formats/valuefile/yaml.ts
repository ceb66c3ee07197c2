/**
 * YAML files through the `yaml` Document API, which keeps comments, key order, anchors and most
 * layout. Only the scalars change. Aliases are left alone (they point at the anchored node, which
 * is encrypted where it stands). Long tokens are never folded (lineWidth 0). The reserved entry is
 * a top-level mapping `_ward: {version, recipients, key, mac}` at the end.
 */
import { isMap, isPair, isScalar, isSeq, parse, parseDocument, type Document, type Node, type Scalar } from 'yaml';
import { WardError } from '../../errors.ts';
import type { Leaf, Meta, ValueDocument } from './document.ts';
import type { Segment, ValueType } from './seal.ts';
import { RESERVED_KEY, metaFromPlain, metaToPlain, typedValue } from './tree.ts';

export class YamlDocument implements ValueDocument {
  readonly #doc: Document;
  readonly #scalars: Scalar[] = [];
  readonly #leaves: Leaf[] = [];

  constructor(text: string) {
    this.#doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
    // Error messages from the parser may quote the input: report only the position.
    const err = this.#doc.errors[0];
    if (err !== undefined) throw new WardError('ERR_VALUEFILE_SYNTAX', `invalid YAML at line ${err.linePos?.[0]?.line ?? '?'} (${err.code})`);
    if (!isMap(this.#doc.contents)) throw new WardError('ERR_VALUEFILE_SYNTAX', 'the top level of the YAML document must be a mapping');
    this.#walk(this.#doc.contents, []);
  }

  #walk(node: Node, path: Segment[]): void {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean') throw new WardError('ERR_VALUEFILE_SYNTAX', `unsupported YAML key under ${path.join('.') || 'the top level'}: keys must be scalars`);
        if (path.length === 0 && key === RESERVED_KEY) continue;
        if (pair.value !== null) this.#walk(pair.value as Node, [...path, String(key)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.#walk(item as Node, [...path, i]));
    } else if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        this.#scalars.push(node);
        this.#leaves.push({ path, type: typeof v === 'string' ? 's' : typeof v === 'boolean' ? 'b' : 'n', text: typeof v === 'number' && node.source !== undefined ? node.source : String(v) });
      }
    }
  }

  leaves(): Leaf[] {
    return this.#leaves.map((l) => ({ ...l, path: [...l.path] }));
  }

  set(index: number, text: string, type: ValueType): void {
    const node = this.#scalars[index]!;
    const isToken = text.startsWith('WARD[');
    node.value = typedValue(text, type, isToken, (t) => Number(parse(t)));
    // A token is one line: a block scalar (| or >) becomes a plain one; a plaintext number or
    // boolean is written as such. Quoting styles of strings are kept.
    if (isToken && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED')) node.type = 'PLAIN';
    if (!isToken && type !== 's') node.type = 'PLAIN';
    delete node.source;
    this.#leaves[index]!.text = text;
  }

  meta(): Meta | null {
    return this.#doc.has(RESERVED_KEY) ? metaFromPlain((this.#doc.get(RESERVED_KEY, true) as Node).toJSON()) : null;
  }

  setMeta(meta: Meta | null): void {
    if (meta === null) this.#doc.delete(RESERVED_KEY);
    else this.#doc.set(RESERVED_KEY, this.#doc.createNode(metaToPlain(meta)));
  }

  toString(): string {
    return this.#doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  }
}
