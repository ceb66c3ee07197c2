/**
 * rclone's version suffix (lib/version, rclone 64ab1ac): a name like `report-v2001-02-03-040506-123.txt`
 * carries a timestamp that crypt leaves in clear. rclone strips it, encrypts `report.txt`, and
 * appends it to the encrypted name; decryption puts it back before the extension. Ward must do
 * the same to produce and read the same names.
 *
 * WARD: the timestamp fields must be all digits (Go's time.Parse would take a sign in the year).
 */
const VERSION_LENGTH = '-v2006-01-02-150405-000'.length;
const VERSION = /^-v(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(\d{2})-\d{3}$/;
const MATCH = /-v\d{4}-\d{2}-\d{2}-\d{6}-\d{3}/;

/** Go's path.Ext split, with rclone's rule that `.file` is all base and no extension. */
function splitExt(name: string): [string, string] {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validTime(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (mo === 2 && leap ? 29 : DAYS[mo - 1]!);
}

/** Splits off a version suffix: `{ name, version }` with the suffix removed, or undefined when none. */
export function removeVersion(fileName: string): { name: string; version: string } | undefined {
  if (!MATCH.test(fileName)) return undefined;
  const [base, ext] = splitExt(fileName);
  if (base.length < VERSION_LENGTH) return undefined;
  const version = base.slice(base.length - VERSION_LENGTH);
  const m = VERSION.exec(version);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (!validTime(y, mo, d, h, mi, s)) return undefined;
  return { name: base.slice(0, base.length - VERSION_LENGTH) + ext, version };
}

/** Puts a version suffix back before the extension. */
export function addVersion(fileName: string, version: string): string {
  const [base, ext] = splitExt(fileName);
  return base + version + ext;
}
