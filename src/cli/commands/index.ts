/**
 * The commands, in the order `ward --help` shows them. Each is loaded only when needed: a command
 * line that names one loads just that one (start-up time matters for `ward run`), `ward --help`
 * loads them all.
 */
import type { Command } from 'commander';

export type Register = (program: Command) => void;
type Loader = () => Promise<{ register: Register }>;

export const commands: Record<string, Loader> = {
  init: () => import('./init.ts'),
  server: () => import('./server.ts'),
  cert: () => import('./cert.ts'),
  token: () => import('./token.ts'),
  enroll: () => import('./enroll.ts'),
  secret: () => import('./secret.ts'),
  recipients: () => import('./recipients.ts'),
  seal: () => import('./seal.ts'),
  policy: () => import('./policy.ts'),
  audit: () => import('./audit.ts'),
  operator: () => import('./operator.ts'),
  key: () => import('./key.ts'),
  migrate: () => import('./migrate.ts'),
  keygen: () => import('./keygen.ts'),
  encrypt: () => import('./encrypt.ts'),
  decrypt: () => import('./decrypt.ts'),
  env: () => import('./env.ts'),
  config: () => import('./config.ts'),
  run: () => import('./run.ts'),
  dir: () => import('./dir.ts'),
  image: () => import('./image.ts'),
  keyprovider: () => import('./keyprovider.ts'),
};
