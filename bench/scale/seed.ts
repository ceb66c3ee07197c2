/**
 * Seeds one store of the scale benchmark through the Store API, sealing every value with the
 * server's own envelope encryption (src/server/vault.ts) under the deployment's master key, so the
 * servers' reads decrypt real rows: SECRETS secrets (dataset.ts), the certificate records of their
 * envs' identities from DIR/identities.jsonl (1% of those the load generator does not use
 * revoked), and prints the seed time as JSON.
 *
 * The Store has no bulk insert: each putSecret is its own transaction, committed durably (SQLite:
 * an fsync each; PostgreSQL: a WAL flush each). `--concurrency` writers run at once: on PostgreSQL
 * they use separate connections, so commits overlap (group commit); on SQLite the store takes one
 * write transaction at a time anyway.
 *
 *   node bench/scale/seed.ts DIR sqlite:PATH|postgres://URL SECRETS [--concurrency 16]
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config.ts';
import { openFileKeyProvider } from '../../src/keys/file.ts';
import { createVault } from '../../src/server/vault.ts';
import { openStore, type StoreConfig } from '../../src/store/index.ts';
import type { CertificateRecord } from '../../src/store/types.ts';
import { appName, appsFor, envName, ENVS_PER_APP, LOADGEN_IDENTITIES, secretName, SECRETS_PER_ENV } from './dataset.ts';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { concurrency: { type: 'string', default: '16' } } });
const [dir, target, count] = positionals;
if (!dir || !target || !count) throw new Error('usage: seed.ts DIR sqlite:PATH|postgres://URL SECRETS [--concurrency N]');
const apps = appsFor(Number(count));
const storeConfig: StoreConfig = target.startsWith('sqlite:')
  ? { driver: 'sqlite', path: target.slice('sqlite:'.length) }
  : { driver: 'postgres', url: target, options: { poolSize: Number(values.concurrency) } };

const config = loadConfig(join(dir, 'deployment/ward.toml'));
const keys = openFileKeyProvider(config.keys.path);
const vault = createVault(keys, { cacheEntries: 0 });
const store = await openStore(storeConfig);

const envs = apps * ENVS_PER_APP;
const total = envs * SECRETS_PER_ENV;
let next = 0;
const started = performance.now();
/** One writer: takes the next secret index until none is left. */
async function writer(): Promise<void> {
  for (let i = next++; i < total; i = next++) {
    // consecutive indexes in different envs: concurrent writers do not queue on one env's revision row
    const e = i % envs;
    const name = secretName(Math.floor(i / envs));
    const ref = { app: appName(Math.floor(e / ENVS_PER_APP)), env: envName(e % ENVS_PER_APP), name };
    const plaintext = randomBytes(16 + (i % 5) * 8);
    await store.putSecret(ref, async (version) => ({
      ...(await vault.seal({ ...ref, version }, plaintext)),
      kind: 'env',
      sealed: false,
      createdBy: 'spiffe://bench/seed',
    }));
    plaintext.fill(0);
  }
}
await Promise.all(Array.from({ length: Number(values.concurrency) }, writer));
const secretSeconds = (performance.now() - started) / 1000;

const certStarted = performance.now();
const records = readFileSync(join(dir, 'identities.jsonl'), 'utf8').trim().split('\n').slice(0, apps * ENVS_PER_APP)
  .map((l, n) => {
    const { certPem: _pem, ...record } = JSON.parse(l) as CertificateRecord & { certPem?: string };
    return n >= LOADGEN_IDENTITIES && n % 100 === 99 ? { ...record, revokedAt: record.issuedAt } : record;
  });
next = 0;
await Promise.all(Array.from({ length: Number(values.concurrency) }, async () => {
  for (let i = next++; i < records.length; i = next++) await store.recordCertificate(records[i]!);
}));
const certSeconds = (performance.now() - certStarted) / 1000;
await store.close();
vault.close();
keys.seal();
console.log(JSON.stringify({
  store: storeConfig.driver,
  secrets: total,
  apps,
  envs: apps * ENVS_PER_APP,
  secretSeconds: Number(secretSeconds.toFixed(1)),
  secretsPerSecond: Math.round(total / secretSeconds),
  certificates: records.length,
  revoked: records.filter((r) => r.revokedAt !== null).length,
  certSeconds: Number(certSeconds.toFixed(1)),
}));
