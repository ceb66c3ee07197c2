/**
 * A real deployment driven through the CLI, for end-to-end tests of `ward run` (test/cli/run.test.ts),
 * the network-namespace interop test and bench/run: `ward init`, `ward server` as a child process,
 * `ward cert issue`, `ward secret set`, each spawned as `node bin/ward.js`.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/ward.js', import.meta.url));

/** The environment for spawned commands: no WARD_* settings leaking in from the caller. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('WARD_')) env[k] = v;
  return { ...env, ...extra };
}

export interface WardOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Buffer;
}

/** Runs `ward ARGS` to completion. */
export function ward(args: string[], o: WardOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: o.cwd, env: o.env ?? cleanEnv(), input: o.input, encoding: 'utf8', timeout: 60_000 });
}

/** Like {@link ward} but throws with stderr unless it exits 0. */
export function wardOk(args: string[], o: WardOptions = {}): string {
  const r = ward(args, o);
  if (r.status !== 0) throw new Error(`ward ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A TCP port nothing listens on right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  s.listen(0, host);
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

export interface Deployment {
  /** Parent temp dir; the deployment is `${root}/dep`. */
  root: string;
  dir: string;
  remove(): void;
}

/** `ward init` in a fresh temp dir. */
export function initDeployment(sans: string[] = []): Deployment {
  const root = mkdtempSync(join(tmpdir(), 'ward-e2e-'));
  const dir = join(root, 'dep');
  wardOk(['init', dir, ...sans.flatMap((s) => ['--san', s])]);
  return { root, dir, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export interface RunningServer {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts `ward server` for the deployment on HOST:PORT and waits until it listens. */
export async function startWardServer(dep: Deployment, port: number, host = '127.0.0.1', spawnPrefix: string[] = []): Promise<RunningServer> {
  const argv = [process.execPath, BIN, 'server', '--config', join(dep.dir, 'ward.toml'), '--listen', `${host}:${port}`, '--health-listen', ''];
  const [cmd, ...args] = [...spawnPrefix, ...argv];
  const child = spawn(cmd!, args, { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: string) => {
      err += d;
      if (err.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`ward server exited ${code}: ${err}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    await listening;
  } finally {
    clearTimeout(timeout);
  }
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    child,
    url,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(force);
    },
  };
}

/** Operator commands run inside the deployment against `url` with its admin identity. */
export function admin(dep: Deployment, url: string) {
  const env = cleanEnv({ WARD_SERVER: url });
  return {
    issue(name: string, app: string, envName: string, out: string): string {
      wardOk(['cert', 'issue', name, '--app', app, '--env', envName, '--out', out], { cwd: dep.dir, env });
      return out;
    },
    set(path: string, value: string | Buffer, o: { file?: boolean } = {}): void {
      wardOk(['secret', 'set', path, ...(o.file ? ['--file'] : [])], { cwd: dep.dir, env, input: value });
    },
    policy(file: string): void {
      wardOk(['policy', 'set', file], { cwd: dep.dir, env });
    },
  };
}
