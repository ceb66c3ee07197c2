/**
 * `ward server` replicas as real child processes on one PostgreSQL database: one deployment made
 * by `ward init` (CA, TLS, master key shared by every replica), each replica started with
 * `WARD_DATABASE_URL`, its API and health listener on free ports. Used by replicas.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanEnv, type Deployment } from '../client/deployment.ts';
import type { Credential, Pki } from './helpers.ts';

export interface Replica {
  child: ChildProcess;
  port: number;
  healthPort: number;
  url: string;
  stderr: () => string;
  /** GET on the health listener: the status code. */
  health(path: '/healthz' | '/readyz'): Promise<number>;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful drain), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

const gone = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined));

/** Starts `ward server` for `dep` on `databaseUrl` and waits until both listeners are up. */
export async function startReplica(dep: Deployment, databaseUrl: string): Promise<Replica> {
  const child = spawn(process.execPath, [BIN, 'server', '--config', join(dep.dir, 'ward.toml'), '--listen', '127.0.0.1:0', '--health-listen', '127.0.0.1:0'], {
    env: cleanEnv({ WARD_DATABASE_URL: databaseUrl }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const api = /listening on https:\/\/127\.0\.0\.1:(\d+)/;
  const health = /health on http:\/\/127\.0\.0\.1:(\d+)/;
  const deadline = Date.now() + 30_000;
  while (!(api.test(err) && health.test(err))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ward server did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const port = Number(api.exec(err)![1]);
  const healthPort = Number(health.exec(err)![1]);
  return {
    child,
    port,
    healthPort,
    url: `https://127.0.0.1:${port}`,
    stderr: () => err,
    async health(path) {
      return (await fetch(`http://127.0.0.1:${healthPort}${path}`)).status;
    },
    async kill() {
      child.kill('SIGKILL');
      await gone(child);
    },
    async stop() {
      const exited = gone(child);
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}

/** A credential from an identity directory (`ward init`'s admin/, `ward cert issue --out`). */
export function identityDir(dir: string): Pick<Credential, 'cert' | 'key'> {
  return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
}

/** What helpers.ts' `client` needs of a Pki: the deployment CA. */
export function deploymentCa(dep: Deployment): Pki {
  return { ca: { certPem: readFileSync(join(dep.dir, 'ca/ca.crt'), 'utf8') } } as unknown as Pki;
}
