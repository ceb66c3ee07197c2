/**
 * `ward run` enrols on its own (docs/enrol.md): when its identity directory holds no certificate
 * yet and a token is given (WARD_TOKEN or WARD_TOKEN_FILE), it enrols with WARD_ENROLL_SERVER and
 * WARD_CA_FINGERPRINT first, so a container needs nothing but those variables on first start.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { usageError } from '../args.ts';
import { info } from '../ui.ts';

export async function enrolIfNeeded(identityDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  if (existsSync(join(identityDir, 'cert.pem'))) return;
  if (!env.WARD_TOKEN && !env.WARD_TOKEN_FILE) return;
  const pin = env.WARD_CA_FINGERPRINT;
  const server = env.WARD_ENROLL_SERVER;
  if (!pin || !server) throw usageError('ward run got an enrolment token but not where to enrol', 'set WARD_ENROLL_SERVER=https://HOST:PORT and WARD_CA_FINGERPRINT=sha256:HEX');
  const [{ readToken }, { enrol }] = await Promise.all([import('./enroll.ts'), import('../../client/enroll.ts')]);
  const token = readToken(env.WARD_TOKEN_FILE ? { tokenFile: env.WARD_TOKEN_FILE } : {}, env);
  const got = await enrol({ server, token, caFingerprint: pin, out: resolve(identityDir) });
  info(`enrolled ${got.spiffeId} into ${got.dir}`);
}
