/**
 * The env-batch miss path (issue 9 follow-up): what `GET /v1/env/APP/ENV` costs when the server's
 * batch cache misses — the store's envRevision + getEnv, one vault.open per secret (data-key
 * unwrap under the env's KEK, AES-GCM open), base64 and the JSON answer — without HTTP or TLS.
 * Built from the server's own pieces (SqliteStore, KeyHierarchy, createVault, loadEnvBatch, an
 * env cache with ttl 0), wired as buildServer wires them.
 *
 * 1,000 envs × 10 secrets (16–48-byte values) in a temp SQLite on /dev/shm (seeding is then not
 * fsync-bound). Reads cycle through the envs in a shuffled order. Two cases, alternating each
 * round: `dk-miss`, a data-key cache smaller than the working set (as in the scale benchmark's
 * cold 100,000-secret load: every secret unwraps its data key), and `dk-hit`, the default
 * 10,000-entry data-key cache that holds all 10,000 keys after the first pass. Figures are
 * µs per batch (wall clock and process CPU), medians over rounds.
 *
 *   node bench/server/miss-path.ts [rounds=7] [batches-per-round=3000]
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { KeyHierarchy } from '../../src/keys/hierarchy.ts';
import { createVault, creatingKeks, storeKekStorage } from '../../src/server/vault.ts';
import { createEnvCache } from '../../src/server/env-cache.ts';
import { loadEnvBatch } from '../../src/server/routes/secrets.ts';

const rounds = Number(process.argv[2] ?? 7);
const perRound = Number(process.argv[3] ?? 3000);
const ENVS = 1000;
const SECRETS = 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ward-bench-miss-'));
try {
  const raw = await openSqliteStore(join(dir, 'ward.db'));
  const master = rawKeyProvider('file', randomBytes(32));
  const hierarchy = new KeyHierarchy(master, storeKekStorage(raw), { cacheMs: 60_000 });
  const store = creatingKeks(raw, hierarchy);
  const seeder = createVault(hierarchy, { cacheEntries: 0 });
  const envs: { app: string; env: string }[] = [];
  for (let i = 0; i < ENVS; i++) envs.push({ app: `app${String(Math.floor(i / 10)).padStart(4, '0')}`, env: `env${i % 10}` });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; i < ENVS; i += 8) {
      const { app, env } = envs[i]!;
      for (let n = 0; n < SECRETS; n++) {
        const name = `SECRET_${String(n).padStart(2, '0')}`;
        const value = randomBytes(12 + (n % 3) * 12);
        await store.putSecret({ app, env, name }, async (version) => ({
          ...(await seeder.seal({ app, env, name, version }, value)), kind: 'env', sealed: false, createdBy: 'bench',
        }));
      }
    }
  }));
  console.log(`seeded ${ENVS * SECRETS} secrets in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const envCache = createEnvCache({ ttlMs: 0 });
  const order = [...envs.keys()].sort(() => Math.random() - 0.5);
  const cases = {
    'dk-miss': { store, vault: createVault(hierarchy, { cacheMs: 60_000, cacheEntries: 100 }) },
    'dk-hit': { store, vault: createVault(hierarchy, { cacheMs: 60_000 }) },
  };
  type Case = keyof typeof cases;
  const results: Record<Case, { wall: number[]; cpu: number[] }> = { 'dk-miss': { wall: [], cpu: [] }, 'dk-hit': { wall: [], cpu: [] } };
  let cursor = 0;
  const run = async (name: Case, n: number) => {
    const ctx = cases[name];
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const { app, env } = envs[order[cursor++ % ENVS]!]!;
      const batch = await envCache.get(app, env, () => loadEnvBatch(ctx, app, env));
      if (batch.secrets.length !== SECRETS) throw new Error(`expected ${SECRETS} secrets in ${app}/${env}`);
    }
    const cpu = process.cpuUsage(cpu0);
    return { wall: ((performance.now() - start) * 1000) / n, cpu: (cpu.user + cpu.system) / n };
  };
  // warm-up: JIT, statement cache, KEK cache, and the dk-hit case's data keys
  await run('dk-miss', 1000);
  await run('dk-hit', ENVS);
  for (let r = 0; r < rounds; r++) {
    const names: Case[] = r % 2 === 0 ? ['dk-miss', 'dk-hit'] : ['dk-hit', 'dk-miss'];
    for (const name of names) {
      const m = await run(name, perRound);
      results[name].wall.push(m.wall);
      results[name].cpu.push(m.cpu);
    }
  }
  for (const name of Object.keys(results) as Case[]) {
    const r = results[name];
    console.log(`${name.padEnd(8)} µs/batch: wall ${median(r.wall).toFixed(1)} (runs ${r.wall.map((x) => x.toFixed(0)).join(' ')}), cpu ${median(r.cpu).toFixed(1)}`);
  }
  await raw.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
