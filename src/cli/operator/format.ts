/** Rendering for the operator commands: aligned tables and times, or JSON for scripts. */
import { out } from '../ui.ts';
import type { Time } from '../../client/admin.ts';

/** A time as the server sent it (ms since the epoch or ISO text), as UTC ISO-8601 to the second. */
export function formatTime(t: Time | null | undefined): string {
  if (t === null || t === undefined || t === '') return '-';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Strips terminal control characters from server-supplied text before it reaches a terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** Column-aligned table with a header row; prints only the header's absence note when empty. */
export function renderTable(headers: string[], rows: string[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(printable))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function printTable(headers: string[], rows: string[][]): void {
  out(renderTable(headers, rows));
}

/** Pretty JSON for --json (one document). */
export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}
