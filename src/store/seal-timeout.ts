/**
 * putSecret's `seal` callback runs inside the write transaction (it needs the version number the
 * store picked), so a slow one — a key provider that hangs, a token gone — would hold the
 * transaction open. Both stores bound it: past `ms` the write fails and nothing is written.
 */
import { WardError } from '../errors.ts';

export async function withSealTimeout<T>(sealed: T | Promise<T>, ms: number): Promise<T> {
  if (!(sealed instanceof Promise)) return sealed;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WardError('ERR_STORE_UNAVAILABLE', `sealing the value took longer than ${ms} ms; nothing was written`)), ms);
  });
  try {
    return await Promise.race([sealed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
