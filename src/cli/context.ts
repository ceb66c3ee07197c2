/**
 * How an operator command (ward secret, cert, policy, audit) finds its server and identity, the
 * way kubectl uses its kubeconfig. For each of the two, the first that is set wins:
 *
 *   server:    --server URL (repeatable, or comma-separated) > $WARD_SERVER (comma-separated)
 *              > [client] server of the deployment's ward.toml
 *   identity:  --identity DIR > $WARD_IDENTITY > [client] identity of ward.toml (default admin/)
 *
 * The deployment is --config FILE|DIR, else $WARD_CONFIG, else the first ward.toml in the current
 * directory or a parent, else ./ward/ward.toml (where `ward init` puts one by default). It is read
 * only when a flag or variable leaves something unset.
 *
 * Kept light: the commands import this at start-up; config parsing and the client load lazily.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { WardError } from '../errors.ts';
import type { WardAdminClient } from '../client/admin.ts';
import type { Identity } from '../client/identity.ts';

export interface ContextFlags {
  server?: string[];
  identity?: string;
  config?: string;
}

export type Source = 'flag' | 'env' | 'config';

export interface Context {
  servers: string[];
  identityDir: string;
  /** The ward.toml read, when one was needed. */
  configPath: string | undefined;
  from: { servers: Source; identity: Source };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Declares --server, --identity and --config on a command group; its subcommands inherit them. */
export function addContextOptions(cmd: Command): Command {
  return cmd
    // these options stay valid after the subcommand (`ward secret get X --server URL`) even if
    // the program itself turns on positional options
    .enablePositionalOptions(false)
    .option('--server <url>', 'server URL, https://HOST:PORT (repeat for failover; default: $WARD_SERVER, then [client] server in ward.toml)', collect)
    .option('--identity <dir>', 'identity directory with key.pem, cert.pem, ca.pem (default: $WARD_IDENTITY, then the deployment\'s admin/)')
    .option('--config <path>', 'the deployment\'s ward.toml or its directory (default: $WARD_CONFIG, ./ward.toml or a parent\'s, ./ward/ward.toml)');
}

/** Where the deployment's ward.toml is, or undefined when there is none. */
export async function locateConfig(flags: ContextFlags, env: NodeJS.ProcessEnv, cwd: string): Promise<string | undefined> {
  if (flags.config) return resolve(cwd, flags.config);
  const { findConfig, CONFIG_FILE } = await import('../config.ts');
  const found = findConfig(cwd, env);
  if (found) return found;
  const initDefault = join(cwd, 'ward', CONFIG_FILE);
  return existsSync(initDefault) ? initDefault : undefined;
}

/**
 * Resolves the server list and identity directory of an operator command.
 * @throws WardError ERR_CONFIG when nothing says where the server or identity is, or ward.toml is
 *   invalid; ERR_USAGE for an empty --server
 */
export async function resolveContext(flags: ContextFlags, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Promise<Context> {
  const { splitServers } = await import('../client/ward-client.ts');
  let servers: string[] | undefined;
  let serversFrom: Source = 'flag';
  if (flags.server && flags.server.length > 0) {
    servers = splitServers(flags.server);
    if (servers.length === 0) throw new WardError('ERR_USAGE', '--server needs a URL');
  } else if (env.WARD_SERVER && splitServers(env.WARD_SERVER).length > 0) {
    servers = splitServers(env.WARD_SERVER);
    serversFrom = 'env';
  }
  let identityDir: string | undefined;
  let identityFrom: Source = 'flag';
  if (flags.identity) identityDir = resolve(cwd, flags.identity);
  else if (env.WARD_IDENTITY) {
    identityDir = resolve(cwd, env.WARD_IDENTITY);
    identityFrom = 'env';
  }
  let configPath: string | undefined;
  if (!servers || !identityDir || flags.config) {
    configPath = await locateConfig(flags, env, cwd);
    if (!configPath) {
      const missing = !servers ? 'which server to use' : 'which identity to use';
      throw new WardError('ERR_CONFIG', `no deployment found to tell ${missing}`, {
        hint: 'run inside a directory made by `ward init` (or pass --config), or set --server URL / WARD_SERVER and --identity DIR / WARD_IDENTITY',
      });
    }
    const { loadConfig } = await import('../config.ts');
    const config = loadConfig(configPath);
    configPath = config.path;
    if (!servers) {
      servers = config.client.servers;
      serversFrom = 'config';
    }
    if (!identityDir) {
      identityDir = config.client.identity;
      identityFrom = 'config';
    }
  }
  return { servers, identityDir, configPath, from: { servers: serversFrom, identity: identityFrom } };
}

export interface Session {
  client: WardAdminClient;
  identity: Identity;
}

/** Resolves the context, loads the identity and returns a ready client (close it when done). */
export async function openClient(flags: ContextFlags): Promise<Session> {
  const ctx = await resolveContext(flags);
  const [{ loadIdentity }, { WardHttpClient }, { WardAdminClient }] = await Promise.all([
    import('../client/identity.ts'),
    import('../client/http.ts'),
    import('../client/admin.ts'),
  ]);
  const identity = loadIdentity(ctx.identityDir);
  return { client: new WardAdminClient(new WardHttpClient({ servers: ctx.servers, identity, userAgent: 'ward-cli' })), identity };
}

/** Runs `fn` with a client for the resolved context and closes it afterwards. */
export async function withClient<T>(flags: ContextFlags, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await openClient(flags);
  try {
    return await fn(session);
  } finally {
    session.client.close();
  }
}
