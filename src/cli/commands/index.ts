/** The list of commands, in the order `ward --help` shows them. */
import type { Command } from 'commander';
import { register as init } from './init.ts';
import { register as server } from './server.ts';
import { register as keygen } from './keygen.ts';
import { register as encrypt } from './encrypt.ts';
import { register as decrypt } from './decrypt.ts';
import { register as run } from './run.ts';
import { register as dir } from './dir.ts';
import { register as env } from './env.ts';
import { register as config } from './config.ts';
import { register as image } from './image.ts';
import { register as keyprovider } from './keyprovider.ts';
import { register as secret } from './secret.ts';
import { register as cert } from './cert.ts';
import { register as token } from './token.ts';
import { register as enroll } from './enroll.ts';
import { register as policy } from './policy.ts';
import { register as audit } from './audit.ts';
import { register as migrate } from './migrate.ts';

export type Register = (program: Command) => void;

export const commands: Register[] = [init, server, cert, token, enroll, secret, policy, audit, migrate, keygen, encrypt, decrypt, env, config, run, dir, image, keyprovider];
