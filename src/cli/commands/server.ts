/** `ward server [--config DIR/ward.toml] [--listen ADDR] [--health-listen ADDR]`: runs the wallet server. */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

export function register(program: Command): void {
  const server = program
    .command('server')
    .description('run the wallet server (mTLS API; plain-HTTP health listener on loopback)')
    .option('--config <file>', 'ward.toml of the deployment (default: $WARD_CONFIG, or ward.toml in this directory or a parent)')
    .option('--listen <addr>', 'API address HOST:PORT, [V6]:PORT or PORT (default: $WARD_LISTEN, else [server] listen)')
    .option('--health-listen <addr>', 'health/metrics address, "" to turn it off (default: $WARD_HEALTH_LISTEN, else [server] health_listen)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug (default warn: no per-request lines)')
    .option('--unseal-file <file>', 'passphrase/shamir master key: unseal at start with the passphrase (first line) or the shares (one per line) in FILE')
    .option('--unseal-fd <n>', 'as --unseal-file, from file descriptor N')
    .addHelpText('after', `
Serves docs/api.md over TLS 1.3 with client certificates required. Every request is audited; a
read is answered only after its audit record is on disk. SIGTERM or SIGINT drains: new
connections are refused, requests in flight finish, then the store is closed.

Health listener: GET /healthz, /readyz, /metrics (Prometheus).

With [keys] provider = "passphrase" or "shamir" the server starts sealed: it answers only the
status and unseal routes (503 ERR_KEY_SEALED otherwise) and /readyz says not ready until
ward operator unseal, or --unseal-file / --unseal-fd at start (a wrong passphrase or share fails
the start; fewer shares than the threshold leave it sealed). See docs/keys.md.

Example:
  ward server --config /srv/ward/ward.toml --listen 0.0.0.0:8443`)
    .action(async (opts: { config?: string; listen?: string; healthListen?: string; logLevel?: string; unsealFile?: string; unsealFd?: string }) => {
      const [{ findConfig, loadConfig }, { startServer, drainOnSignals }, ui, { WardError }] = await Promise.all([
        import('../../config.ts'), import('../../server/main.ts'), import('../ui.ts'), import('../../errors.ts'),
      ]);
      const path = opts.config ?? findConfig();
      if (path === undefined) {
        throw new WardError('ERR_CONFIG', 'no ward.toml found', { hint: 'pass --config DIR/ward.toml, set WARD_CONFIG, or run ward init first' });
      }
      const config = loadConfig(path);
      if (opts.unsealFile !== undefined && opts.unsealFd !== undefined) throw new WardError('ERR_USAGE', 'give --unseal-file or --unseal-fd, not both');
      const unseal = opts.unsealFile === undefined && opts.unsealFd === undefined
        ? []
        : (await import('../operator/keys.ts')).unsealSecretsFrom({ file: opts.unsealFile, fd: opts.unsealFd }, config.keys.provider);
      const server = await startServer(config, {
        unseal,
        ...(opts.listen === undefined ? {} : { listen: opts.listen }),
        ...(opts.healthListen === undefined ? {} : { healthListen: opts.healthListen }),
        ...(opts.logLevel === undefined ? {} : { logLevel: opts.logLevel }),
      });
      const at = (a: { host: string; port: number }) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);
      ui.info(`listening on https://${at(server.address)} (trust domain ${config.server.trustDomain})`);
      if (server.healthAddress) ui.info(`health on http://${at(server.healthAddress)}`);
      if (server.keys.sealed) ui.warn(`the master key (${server.keys.kind}) is sealed: the server serves nothing until ward operator unseal`);
      drainOnSignals(server, (m) => ui.info(m));
      // Keep running until a signal drains the server.
      await new Promise<never>(() => undefined);
    });

  addContextOptions(server.command('recipient'))
    .description('print the server\'s own age recipient: encrypt config to it for ward secret import or [server] import_dir')
    .addHelpText('after', '\nThe identity behind it is made on the server\'s first start and kept in the store, wrapped by the\nmaster key (all replicas share it).\n\nExample:\n  ward config encrypt -r "$(ward server recipient)" config.toml -o config.enc.toml')
    .action(async (_o: unknown, cmd: Command) => (await import('../operator/sealed.ts')).serverRecipient(cmd.optsWithGlobals() as ContextFlags));
}
