/** Small helpers shared by commands for turning flags into typed values. */
import { WardError } from '../errors.ts';

/** A bad flag combination or value: the documented usage error. */
export function usageError(message: string, hint?: string): WardError {
  return new WardError('ERR_USAGE', message, hint ? { hint } : {});
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `90s`, `15m`, `720h`, `1h30m`, or a bare number of seconds, into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNITS[m[2] as string]!;
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw usageError(`invalid duration ${JSON.stringify(text)} for ${flag}`, 'use a number with a unit, e.g. 90s, 15m, 24h');
  }
  return total;
}
