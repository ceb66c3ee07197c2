/** The store layer's public surface: the contract, the SQLite implementation, the audit chain. */
export type * from './types.ts';
export { openSqliteStore, SqliteStore } from './sqlite.ts';
export type { SqliteStoreOptions } from './sqlite.ts';
export { verifyAuditChain, readAllAudit, canonicalAuditRecord, auditRecordHash, GENESIS_HASH } from './audit-chain.ts';
export type { AuditAnchor, AuditChainResult } from './audit-chain.ts';
export { parseSecretPath, formatSecretPath, isSegment, SEGMENT } from './paths.ts';
export { clampLimit, MAX_PAGE_LIMIT } from './paging.ts';
