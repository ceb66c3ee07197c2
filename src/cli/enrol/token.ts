/** `ward token create`: asks the server for a one-time enrolment token and prints it once. */
import { isIP } from 'node:net';
import { parseDuration, usageError } from '../args.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { info, out } from '../ui.ts';
import { formatTime, printJson } from '../operator/format.ts';
import { parseCertName } from '../operator/parse.ts';

export interface TokenFlags extends ContextFlags {
  app: string;
  env: string;
  ttl: string;
  cidr: string[];
  json?: boolean;
}

function checkCidr(text: string): string {
  const [ip = '', prefix, extra] = text.split('/');
  const family = isIP(ip);
  if (!family || extra !== undefined || (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128)))) {
    throw usageError(`invalid --cidr ${JSON.stringify(text.slice(0, 64))}`, 'an address or range, e.g. 10.0.0.0/8 or 2001:db8::/32');
  }
  return text;
}

export async function createToken(flags: TokenFlags): Promise<void> {
  const app = parseCertName(flags.app);
  const env = parseCertName(flags.env);
  const ttlMs = parseDuration(flags.ttl, '--ttl');
  if (ttlMs < 60_000 || ttlMs > 30 * 86_400_000 || ttlMs % 1000 !== 0) throw usageError(`invalid --ttl ${JSON.stringify(flags.ttl)}`, 'between 1m and 30d');
  const cidrs = flags.cidr.map(checkCidr);
  const r = await withClient(flags, ({ client }) =>
    client.http.request<{ token: string; app: string; env: string; expiresAt: number }>('POST', '/v1/tokens', { body: { app, env, ttl: ttlMs / 1000, ...(cidrs.length ? { cidrs } : {}) } }),
  );
  if (flags.json) printJson(r);
  else {
    out(r.token);
    info(`one-time token for ${r.app}/${r.env}, expires ${formatTime(r.expiresAt)}${cidrs.length ? `, only from ${cidrs.join(', ')}` : ''}`);
  }
}
