/**
 * `ward migrate --to postgres://…` (SPEC §3): copies the deployment's SQLite store into an empty
 * PostgreSQL database, verified (src/store/migrate.ts). Declares flags and help; the implementation
 * loads when the command runs.
 */
import type { Command } from 'commander';

interface MigrateFlags {
  to: string;
  from?: string;
  config?: string;
}

async function run(flags: MigrateFlags): Promise<void> {
  const [{ migrateSqliteToPostgres }, ui, { usageError }] = await Promise.all([
    import('../../store/migrate.ts'),
    import('../ui.ts'),
    import('../args.ts'),
  ]);
  if (!/^postgres(ql)?:\/\//.test(flags.to)) throw usageError('--to must be a postgres:// or postgresql:// URL');
  const target = new URL(flags.to);
  if (target.password !== '') ui.warn('the password in --to is visible to other users of this machine; prefer PGPASSWORD or ~/.pgpass');
  let from = flags.from;
  if (from === undefined) {
    const [{ locateConfig }, { loadConfig }] = await Promise.all([import('../context.ts'), import('../../config.ts')]);
    const configPath = await locateConfig(flags, process.env, process.cwd());
    if (configPath === undefined) throw usageError('no deployment found', 'run inside a directory made by `ward init`, or pass --config or --from FILE');
    const { storage } = loadConfig(configPath);
    if (storage.driver !== 'sqlite') throw usageError('the deployment does not use sqlite storage', 'pass --from FILE for the SQLite database to copy');
    from = storage.path;
  }
  const where = `${target.hostname}${target.port ? `:${target.port}` : ''}${target.pathname}`;
  ui.info(`copying ${from} to postgres ${where}`);
  const report = await migrateSqliteToPostgres(from, flags.to, { onTable: (table, rows) => ui.info(`${table}: ${rows} rows`) });
  ui.info(`verified: row counts, sealed bytes and the audit chain (last seq ${report.auditHead.seq}) match`);
  ui.hint('set [storage] driver = "postgres" and url in ward.toml (or WARD_DATABASE_URL), then start the servers');
}

export function register(program: Command): void {
  program
    .command('migrate')
    .description('copy a deployment\'s SQLite store to PostgreSQL, nothing lost, verified; the target must be empty')
    .requiredOption('--to <url>', 'target database, postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass)')
    .option('--from <file>', 'SQLite database to copy (default: [storage] path of the deployment\'s ward.toml)')
    .option('--config <path>', 'the deployment\'s ward.toml or its directory (default: $WARD_CONFIG, ./ward.toml or a parent\'s, ./ward/ward.toml)')
    .addHelpText('after', [
      '',
      'Stop the servers first: the copy is a snapshot. Every secret version (sealed bytes as they are),',
      'policy, certificate, enrolment token and the audit log are copied verbatim in one transaction;',
      'row counts, a digest of the sealed bytes and the audit chain are checked before it commits.',
      'The master key is not in the database: the servers on PostgreSQL need the same one.',
      '',
      'Exit codes: 7 (ERR_STORE_NOT_EMPTY) when the target already holds Ward data; 9',
      '(ERR_STORE_COPY_MISMATCH) when the check fails (nothing is committed); 3 when the source audit',
      'chain does not verify.',
    ].join('\n'))
    .action(async (o: MigrateFlags) => run(o));
}
