/** `ward enroll`: resolves the token, pin and server, then enrols (src/client/enroll.ts). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { WardError } from '../../errors.ts';
import { usageError } from '../args.ts';
import type { EnrollFlags } from '../commands/enroll.ts';
import { info } from '../ui.ts';
import { printJson } from '../operator/format.ts';

/**
 * The token from --token-file (or stdin with "-"), else $WARD_TOKEN, else --token.
 * @throws WardError ERR_TOKEN_MISSING, ERR_IO
 */
export function readToken(flags: { token?: string; tokenFile?: string }, env: NodeJS.ProcessEnv): string {
  let text: string | undefined;
  if (flags.tokenFile !== undefined) {
    try {
      text = readFileSync(flags.tokenFile === '-' ? 0 : flags.tokenFile, 'utf8');
    } catch (e) {
      throw new WardError('ERR_IO', `cannot read ${flags.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
    }
  } else text = env.WARD_TOKEN ?? flags.token;
  const token = text?.trim();
  if (!token) throw new WardError('ERR_TOKEN_MISSING', 'no enrolment token given', { hint: 'pass --token-file FILE (or - for stdin), or set WARD_TOKEN' });
  return token;
}

export async function runEnroll(flags: EnrollFlags, env: NodeJS.ProcessEnv): Promise<void> {
  const server = flags.server ?? env.WARD_ENROLL_SERVER;
  if (!server) throw usageError('no enrolment server given', 'pass --server https://HOST:PORT (the [server] enroll_listen address) or set WARD_ENROLL_SERVER');
  const pin = flags.caFingerprint ?? env.WARD_CA_FINGERPRINT;
  if (!pin) throw usageError('no CA fingerprint given', 'pass --ca-fingerprint sha256:HEX as ward init printed it, or set WARD_CA_FINGERPRINT');
  const token = readToken(flags, env);
  const { enrol } = await import('../../client/enroll.ts');
  const got = await enrol({ server, token, caFingerprint: pin, out: resolve(flags.out), ...(flags.name === undefined ? {} : { name: flags.name }) });
  if (flags.json) printJson({ dir: got.dir, spiffeId: got.spiffeId, serial: got.serial, notAfter: got.notAfter.toISOString() });
  else info(`enrolled ${got.spiffeId} (serial ${got.serial}, expires ${got.notAfter.toISOString()}) into ${got.dir}`);
}
