/** The store layer's public surface: the contract, the SQLite implementation, the audit chain, {@link openStore}. */
export type * from './types.ts';
import { WardError } from '../errors.ts';
import { openSqliteStore } from './sqlite.ts';
import type { PostgresStoreOptions } from './postgres.ts';
import type { SqliteStoreOptions } from './sqlite.ts';
import type { Store } from './types.ts';

export { openSqliteStore, SqliteStore } from './sqlite.ts';
export type { SqliteStoreOptions } from './sqlite.ts';
export { verifyAuditChain, readAllAudit, canonicalAuditRecord, auditRecordHash, GENESIS_HASH } from './audit-chain.ts';
export type { AuditAnchor, AuditChainResult } from './audit-chain.ts';
export { parseSecretPath, formatSecretPath, isSegment, SEGMENT } from './paths.ts';
export { clampLimit, MAX_PAGE_LIMIT } from './paging.ts';
export type { PostgresStoreOptions } from './postgres.ts';

/** Which backend a deployment uses: ward.toml's [storage] table, or WARD_DATABASE_URL. */
export type StoreConfig =
  | { driver: 'sqlite'; path: string; options?: SqliteStoreOptions }
  | { driver: 'postgres'; url: string; options?: PostgresStoreOptions };

/**
 * `WARD_DATABASE_URL`, when set, selects PostgreSQL at that URL over whatever ward.toml says
 * (containers and replicas are configured by environment); otherwise `config` as it is.
 */
export function resolveStoreConfig(config: StoreConfig, env: Record<string, string | undefined> = process.env): StoreConfig {
  const url = env.WARD_DATABASE_URL;
  if (url === undefined || url === '') return config;
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new WardError('ERR_CONFIG', 'WARD_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  return { driver: 'postgres', url };
}

/**
 * Opens (and migrates) the store `config` names. The PostgreSQL driver is loaded only when used.
 *
 * @throws WardError ERR_STORE_UNAVAILABLE, ERR_STORE_SCHEMA_TOO_NEW, ERR_STORE_CORRUPT
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  if (config.driver === 'sqlite') return openSqliteStore(config.path, config.options);
  if (config.driver === 'postgres') {
    const { openPostgresStore } = await import('./postgres.ts');
    return openPostgresStore(config.url, config.options);
  }
  throw new TypeError('storage driver must be sqlite or postgres');
}
