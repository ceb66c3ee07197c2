/**
 * `ward audit tail [-f]` and `ward audit verify`. Records have sequence numbers 1, 2, 3, … with no
 * gaps, which lets `tail` find the end with a few one-record probes instead of reading the whole
 * log; `-f` then long-polls for newer records. The server does not wake a long-poll for its own
 * audit.read records, and `-f` hides the records of its own polling unless --all.
 */
import { WardError } from '../../errors.ts';
import type { AuditRecord, WardAdminClient } from '../../client/admin.ts';
import { describeIdentity } from '../../client/identity.ts';
import { info, out } from '../ui.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { formatTime, printJson } from './format.ts';
import { usageError } from '../args.ts';

const PAGE = 1000;
const LONG_POLL_SECONDS = 30;
const AUDIT_READ = 'audit.read';

/** One line per record; server text is made printable so it cannot drive the terminal. */
export function formatRecord(r: AuditRecord): string {
  const text = (v: unknown) => String(v ?? '-').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'); // eslint-disable-line no-control-regex
  const detail = typeof r.detail === 'string' && r.detail !== '' ? ` (${text(r.detail)})` : '';
  return `#${r.seq} ${formatTime(r.time)} ${text(r.outcome)} ${text(r.operation)} ${text(r.path)} by ${text(r.identity)} from ${text(r.source)}${detail}`;
}

function print(records: AuditRecord[], json: boolean): void {
  for (const r of records) out(json ? JSON.stringify(r) : formatRecord(r));
}

/** Whether a record with this sequence number exists (sequence numbers have no gaps). */
async function exists(client: WardAdminClient, seq: number): Promise<boolean> {
  return (await client.readAudit({ after: seq - 1, limit: 1 })).length > 0;
}

/** The highest sequence number, knowing that `known` exists: gallop, then bisect. */
export async function lastSeq(client: WardAdminClient, known: number): Promise<number> {
  let lo = known;
  let step = PAGE;
  while (await exists(client, lo + step)) {
    lo += step;
    step *= 2;
  }
  let hi = lo + step;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await exists(client, mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export interface TailOptions extends ContextFlags {
  follow?: boolean;
  lines?: string;
  json?: boolean;
  all?: boolean;
}

export async function tailAudit(opts: TailOptions): Promise<void> {
  const n = opts.lines === undefined ? 20 : Number(opts.lines);
  if (!Number.isInteger(n) || n < 0 || n > PAGE) throw usageError(`invalid --lines ${JSON.stringify(opts.lines)}`, `0 to ${PAGE}`);
  const json = opts.json === true;
  await withClient(opts, async ({ client, identity }) => {
    let records = await client.readAudit({ after: 0, limit: PAGE });
    if (records.length === PAGE) {
      const last = await lastSeq(client, records.at(-1)!.seq);
      records = n === 0 ? [] : await client.readAudit({ after: Math.max(0, last - n), limit: n });
    }
    const shown = records.slice(Math.max(0, records.length - n));
    print(shown, json);
    if (!opts.follow) return;
    const me = describeIdentity(identity).spiffeId;
    let after = records.at(-1)?.seq ?? 0;
    for (;;) {
      const newer = await client.readAudit({ after, limit: PAGE, waitSeconds: LONG_POLL_SECONDS });
      if (newer.length === 0) continue;
      after = newer.at(-1)!.seq;
      print(opts.all ? newer : newer.filter((r) => !(r.operation === AUDIT_READ && r.identity === me)), json);
    }
  });
}

export async function verifyAudit(opts: ContextFlags & { json?: boolean }): Promise<void> {
  const r = await withClient(opts, ({ client }) => client.verifyAudit());
  if (opts.json) printJson(r);
  if (!r.ok) {
    throw new WardError('ERR_AUDIT_CHAIN_BROKEN', `audit log broken at record ${r.firstBad ?? '?'}: ${r.reason ?? 'hash chain does not verify'}`, {
      hint: 'records from that one on may have been altered, removed or reordered; keep the database for investigation',
    });
  }
  if (!opts.json) info(`audit log intact: ${r.count} records, hash chain verified`);
}
