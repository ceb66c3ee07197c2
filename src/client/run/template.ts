/**
 * Logic-less templates for `ward run --template SRC:DST`.
 *
 *   {{ NAME }}            the value of secret NAME of the app's APP/ENV
 *   {{ APP/ENV/NAME }}    the value of another secret the workload may read (a `ward:` reference)
 *   \{{                   a literal "{{"
 *
 * Nothing else: no conditions, loops, helpers or expressions, so a template can never run code.
 * An unknown name, an unclosed tag or any other content between the braces is an error naming the
 * line; the value is never part of the message.
 */
import { WardError } from '../../errors.ts';

export type Lookup = (ref: string) => Buffer | undefined;

const TAG = /\\\{\{|\{\{\s*([A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,2})\s*\}\}|\{\{/g;

/** The secret references a template uses, for fetching before rendering. */
export function templateRefs(source: string, file: string): string[] {
  const refs = new Set<string>();
  scan(source, file, (ref) => refs.add(ref));
  return [...refs];
}

function scan(source: string, file: string, onRef: (ref: string) => void, onText?: (text: string) => void): void {
  let last = 0;
  for (const m of source.matchAll(TAG)) {
    onText?.(source.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[0] === '\\{{') {
      onText?.('{{');
      continue;
    }
    const ref = m[1];
    if (ref === undefined || ref.split('/').length === 2) {
      const line = source.slice(0, m.index).split('\n').length;
      throw new WardError('ERR_TEMPLATE', `${file}:${line}: invalid template tag (expected {{ NAME }} or {{ APP/ENV/NAME }})`);
    }
    onRef(ref);
  }
  onText?.(source.slice(last));
}

/** Renders a template into a Buffer. The caller zeroes the result once written. */
export function renderTemplate(source: string, file: string, lookup: Lookup): Buffer {
  const parts: Buffer[] = [];
  scan(
    source,
    file,
    (ref) => {
      const value = lookup(ref);
      if (value === undefined) throw new WardError('ERR_TEMPLATE', `${file}: template refers to ${ref}, which is not available`, { hint: 'check the name and that this workload may read it' });
      parts.push(value);
    },
    (text) => parts.push(Buffer.from(text)),
  );
  return Buffer.concat(parts);
}
