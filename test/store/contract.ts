/**
 * The behaviour every Store implementation must have. test/store/sqlite.test.ts runs it on SQLite;
 * the PostgreSQL store runs the very same suite. `open` returns a fresh, empty, migrated store;
 * `rawSql`, when given, runs a statement directly on the store's database (bypassing the store) so
 * the suite can tamper with the audit table the way an attacker with file access would; `reopen`
 * opens a second instance on the same database. Tests that only hold for one backend (SQLite's one
 * writer at a time, file modes) live in that backend's own test file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WardError } from '../../src/errors.ts';
import { GENESIS_HASH, readAllAudit, verifyAuditChain } from '../../src/store/audit-chain.ts';
import type { AuditInput, AuditRecord, KekRow, NewSecretVersion, SecretRef, Store, StoreChange } from '../../src/store/types.ts';

export interface ContractOptions {
  rawSql?: (store: Store, sql: string) => Promise<void>;
  /** Opens another store instance on the same database as `store` (for change notification). */
  reopen?: (store: Store) => Promise<Store>;
}

type Sealed = Omit<NewSecretVersion, keyof SecretRef>;

/** A deterministic "sealed" value for (path, version), so reads can be checked byte for byte. */
export function fakeSeal(ref: SecretRef, version: number, extra: Partial<Sealed> = {}): Sealed {
  return {
    ciphertext: Buffer.from(`ct:${ref.app}/${ref.env}/${ref.name}#${version}`),
    wrappedKey: Buffer.from(`wk:${version}`),
    keyId: 'kek-1',
    format: 1,
    kind: 'env',
    sealed: false,
    createdBy: 'spiffe://test/admin',
    ...extra,
  };
}

export function put(store: Store, ref: SecretRef & { cas?: number }, extra: Partial<Sealed> = {}) {
  return store.putSecret(ref, (v) => fakeSeal(ref, v, extra));
}

export function auditEntry(i: number, extra: Partial<AuditInput> = {}): AuditInput {
  return {
    time: 1_700_000_000_000 + i,
    identity: `spiffe://test/app/a/env/e/${i}`,
    serial: 'ab12',
    source: '10.0.0.1',
    operation: 'secret.read',
    path: `a/e/N${i}`,
    outcome: 'granted',
    ...extra,
  };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof WardError, `expected WardError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

/** Misuse is a TypeError, thrown at once or as a rejection (both reach an awaiting caller). */
async function misuse(fn: () => Promise<unknown>): Promise<void> {
  await assert.rejects(async () => fn(), TypeError);
}

const ref = (name: string, app = 'app', env = 'prod'): SecretRef => ({ app, env, name });

export function storeContract(name: string, open: () => Promise<Store>, opts: ContractOptions = {}): void {
  describe(`Store contract: ${name}`, () => {
    const withStore = (title: string, fn: (s: Store) => Promise<void>) =>
      test(title, async () => {
        const s = await open();
        try {
          await fn(s);
        } finally {
          await s.close();
        }
      });

    describe('secrets', () => {
      withStore('versions are numbered 1, 2, 3 by the store and seal sees that number', async (s) => {
        const seen: number[] = [];
        for (let i = 1; i <= 3; i++) {
          const v = await s.putSecret(ref('DB'), (n) => {
            seen.push(n);
            return fakeSeal(ref('DB'), n);
          });
          assert.equal(v.version, i);
          assert.equal(v.destroyedAt, null);
        }
        assert.deepEqual(seen, [1, 2, 3]);
        const latest = await s.getSecret(ref('DB'));
        assert.equal(latest?.version, 3);
        assert.ok(Buffer.isBuffer(latest?.ciphertext));
        assert.deepEqual(latest?.ciphertext, fakeSeal(ref('DB'), 3).ciphertext);
        assert.deepEqual(latest?.wrappedKey, Buffer.from('wk:3'));
        const v2 = await s.getSecret(ref('DB'), 2);
        assert.deepEqual(v2?.ciphertext, fakeSeal(ref('DB'), 2).ciphertext);
        assert.equal(await s.getSecret(ref('DB'), 4), null);
        assert.equal(await s.getSecret(ref('DB'), 0), null);
        assert.equal(await s.getSecret(ref('NOPE')), null);
        const meta = await s.getSecretMeta(ref('DB'));
        assert.equal(meta?.currentVersion, 3);
        assert.equal(meta?.deletedAt, null);
        assert.ok(meta !== null && meta.updatedAt >= meta.createdAt);
        assert.equal(await s.getSecretMeta(ref('NOPE')), null);
      });

      withStore('stores every field of a version as given', async (s) => {
        const r = ref('CERT', 'web', 'dev');
        const written = await put(s, r, { kind: 'file', sealed: true, keyId: 'kek-7', format: 2, createdBy: 'spiffe://x/y' });
        const read = await s.getSecret(r);
        assert.deepEqual(read, written);
        assert.equal(read?.kind, 'file');
        assert.equal(read?.sealed, true);
        const meta = await s.getSecretMeta(r);
        assert.equal(meta?.kind, 'file');
        assert.equal(meta?.sealed, true);
      });

      withStore('binary values round-trip exactly, including empty and 1 MiB', async (s) => {
        const big = Buffer.alloc(1 << 20);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
        for (const [n, ct] of [['EMPTY', Buffer.alloc(0)], ['ZEROS', Buffer.alloc(17)], ['BIG', big]] as const) {
          await s.putSecret(ref(n), () => ({ ...fakeSeal(ref(n), 1), ciphertext: ct }));
          assert.deepEqual((await s.getSecret(ref(n)))?.ciphertext, ct);
        }
      });

      withStore('check-and-set: 0 creates, the current version updates, anything else conflicts and changes nothing', async (s) => {
        assert.equal((await put(s, { ...ref('K'), cas: 0 })).version, 1);
        let sealed = false;
        await rejectsWith(s.putSecret({ ...ref('K'), cas: 0 }, (v) => ((sealed = true), fakeSeal(ref('K'), v))), 'ERR_API_CONFLICT');
        assert.equal(sealed, false, 'seal must not run when the check fails');
        await rejectsWith(put(s, { ...ref('K'), cas: 5 }), 'ERR_API_CONFLICT');
        await rejectsWith(put(s, { ...ref('NEW'), cas: 1 }), 'ERR_API_CONFLICT');
        assert.equal(await s.getSecretMeta(ref('NEW')), null);
        assert.equal((await put(s, { ...ref('K'), cas: 1 })).version, 2);
        assert.equal((await s.history(ref('K'))).length, 2);
        await misuse(() => put(s, { ...ref('K'), cas: -1 }));
      });

      withStore('20 concurrent writers with the same cas: exactly one wins', async (s) => {
        await put(s, ref('RACE'));
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            s.putSecret({ ...ref('RACE'), cas: 1 }, async (v) => {
              await new Promise((r) => setTimeout(r, i % 3));
              return fakeSeal(ref('RACE'), v, { createdBy: `writer-${i}` });
            })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.status === 'rejected') assert.equal((r.reason as WardError).code, 'ERR_API_CONFLICT');
        }
        assert.equal((await s.getSecretMeta(ref('RACE')))?.currentVersion, 2);
        assert.equal((await s.history(ref('RACE'))).length, 2);
      });

      withStore('20 concurrent writers without cas get versions 1..20, each sealed exactly once', async (s) => {
        const calls: number[] = [];
        const versions = await Promise.all(
          Array.from({ length: 20 }, () =>
            s.putSecret(ref('MANY'), async (v) => {
              calls.push(v);
              await Promise.resolve();
              return fakeSeal(ref('MANY'), v);
            })),
        );
        assert.deepEqual(versions.map((v) => v.version).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
        assert.deepEqual([...calls].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
        for (let v = 1; v <= 20; v++) assert.deepEqual((await s.getSecret(ref('MANY'), v))?.ciphertext, fakeSeal(ref('MANY'), v).ciphertext);
      });

      withStore('a failing seal writes nothing and leaves the store usable', async (s) => {
        await assert.rejects(s.putSecret(ref('F'), async () => Promise.reject(new Error('kms down'))), /kms down/);
        await assert.rejects(s.putSecret(ref('F'), () => { throw new Error('sync failure'); }), /sync failure/);
        await assert.rejects(s.putSecret(ref('F'), (v) => ({ ...fakeSeal(ref('F'), v), kind: 'bogus' as 'env' })), TypeError);
        assert.equal(await s.getSecretMeta(ref('F')), null);
        assert.equal(await s.envRevision('app', 'prod'), 0);
        assert.equal((await put(s, ref('F'))).version, 1);
        assert.equal((await s.appendAudit([auditEntry(1)]))[0]?.seq, 1);
      });

      withStore('while a write awaits seal, reads see the old state and writes of that secret wait their turn', async (s) => {
        await put(s, ref('OLD'));
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const slow = s.putSecret(ref('SLOW'), async (v) => {
          await gate;
          return fakeSeal(ref('SLOW'), v);
        });
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(await s.getSecret(ref('SLOW')), null);
        assert.equal(await s.getSecretMeta(ref('SLOW')), null);
        assert.deepEqual((await s.getEnv('app', 'prod')).map((v) => v.name), ['OLD']);
        assert.equal(await s.envRevision('app', 'prod'), 1);
        const order: string[] = [];
        const same = put(s, ref('SLOW')).then((v) => order.push(`same:${v.version}`));
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(order.length, 0, 'a write of the same secret waits for the open transaction');
        release();
        await Promise.all([slow.then((v) => order.push(`slow:${v.version}`)), same]);
        assert.deepEqual(order, ['slow:1', 'same:2']);
        assert.equal((await s.getSecret(ref('SLOW')))?.version, 2);
        assert.equal(await s.envRevision('app', 'prod'), 3);
      });

      withStore('200 concurrent check-and-set writers of one secret: one winner per version, no lost update', async (s) => {
        // a counter: each writer reads it and writes count + 1 with cas = the version it read,
        // retrying after a conflict (with a random, growing pause, as a client would) until it wins
        const counter = (n: number) => (v: number) => ({ ...fakeSeal(ref('HOT'), v), ciphertext: Buffer.from(String(n)) });
        await s.putSecret(ref('HOT'), counter(0));
        const winners = new Map<number, number>();
        let conflicts = 0;
        await Promise.all(Array.from({ length: 200 }, async (_, i) => {
          for (let attempt = 1; ; attempt++) {
            const cur = await s.getSecret(ref('HOT'));
            assert.ok(cur !== null);
            try {
              const v = await s.putSecret({ ...ref('HOT'), cas: cur.version }, (n) => ({
                ...counter(Number(cur.ciphertext.toString()) + 1)(n), createdBy: `w${i}`,
              }));
              assert.equal(v.version, cur.version + 1);
              assert.equal(winners.has(v.version), false, `version ${v.version} won twice`);
              winners.set(v.version, i);
              await s.appendAudit([auditEntry(i, { operation: 'secret.write', path: 'app/prod/HOT', detail: `version ${v.version}` })]);
              return;
            } catch (e) {
              assert.ok(e instanceof WardError && e.code === 'ERR_API_CONFLICT', String(e));
              conflicts++;
              await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 1000)));
            }
          }
        }));
        assert.ok(conflicts > 0, 'the writers did race');
        assert.equal(new Set(winners.values()).size, 200, 'every writer won exactly once');
        const latest = await s.getSecret(ref('HOT'));
        assert.equal(latest?.version, 201);
        assert.equal(latest?.ciphertext.toString(), '200', 'no increment was lost');
        const hist = await s.history(ref('HOT'));
        assert.deepEqual(hist.map((h) => h.version), Array.from({ length: 201 }, (_, i) => i + 1));
        for (const h of hist.slice(1)) assert.equal(h.createdBy, `w${winners.get(h.version)}`);
        const v = await verifyAuditChain(readAllAudit(s));
        assert.deepEqual([v.ok, v.count], [true, 200]);
      });

      withStore('invalid paths are misuse (TypeError)', async (s) => {
        await misuse(() => put(s, ref('../x')));
        await misuse(() => s.getEnv('', 'prod'));
        await misuse(() => s.getSecret({ app: 'a/b', env: 'e', name: 'n' }));
        await misuse(() => s.readAudit(0, -1));
      });

      withStore('getEnv returns the latest live version of each secret of APP/ENV, sorted by name', async (s) => {
        for (const n of ['ZED', 'ALPHA', 'MID']) await put(s, ref(n));
        await put(s, ref('MID'));
        await put(s, ref('OTHER', 'app', 'staging'));
        await put(s, ref('OTHER', 'app2', 'prod'));
        await put(s, ref('GONE'));
        await s.softDelete(ref('GONE'));
        await put(s, ref('BURNT'));
        await s.destroy(ref('BURNT'));
        const env = await s.getEnv('app', 'prod');
        assert.deepEqual(env.map((v) => [v.name, v.version]), [['ALPHA', 1], ['MID', 2], ['ZED', 1]]);
        for (const v of env) {
          assert.ok(Buffer.isBuffer(v.ciphertext) && Buffer.isBuffer(v.wrappedKey));
          assert.deepEqual(v.ciphertext, fakeSeal(ref(v.name), v.version).ciphertext);
          assert.equal(v.app, 'app');
          assert.equal(v.env, 'prod');
        }
        assert.deepEqual(await s.getEnv('nobody', 'prod'), []);
      });

      withStore('listSecrets pages with an opaque cursor, without gaps or repeats, and filters', async (s) => {
        const all: string[] = [];
        for (const app of ['a1', 'a2']) {
          for (const env of ['dev', 'prod']) {
            for (let i = 0; i < 6; i++) {
              await put(s, ref(`S${String(i).padStart(2, '0')}`, app, env));
              all.push(`${app}/${env}/S${String(i).padStart(2, '0')}`);
            }
          }
        }
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await s.listSecrets({ limit: 5, cursor });
          assert.ok(page.items.length <= 5);
          seen.push(...page.items.map((m) => `${m.app}/${m.env}/${m.name}`));
          cursor = page.next;
          if (cursor !== null) assert.match(cursor, /^[A-Za-z0-9_-]+$/);
          pages++;
        } while (cursor !== null);
        assert.equal(pages, 5);
        assert.deepEqual(seen, [...all].sort());

        const a2 = await s.listSecrets({ app: 'a2', limit: 1000 });
        assert.equal(a2.items.length, 12);
        assert.equal(a2.next, null);
        assert.ok(a2.items.every((m) => m.app === 'a2'));
        const a1prod = await s.listSecrets({ app: 'a1', env: 'prod' });
        assert.deepEqual(a1prod.items.map((m) => m.name), ['S00', 'S01', 'S02', 'S03', 'S04', 'S05']);
        assert.equal((await s.listSecrets({ env: 'dev' })).items.length, 12);

        // pages of a filtered listing
        const first = await s.listSecrets({ app: 'a1', env: 'dev', limit: 4 });
        const second = await s.listSecrets({ app: 'a1', env: 'dev', limit: 4, cursor: first.next });
        assert.deepEqual([...first.items, ...second.items].map((m) => m.name), ['S00', 'S01', 'S02', 'S03', 'S04', 'S05']);
        assert.equal(second.next, null);

        // a page exactly filled has no next page
        const exact = await s.listSecrets({ app: 'a1', env: 'dev', limit: 6 });
        assert.equal(exact.items.length, 6);
        assert.equal(exact.next, null);

        // limits are clamped to 1..1000
        assert.equal((await s.listSecrets({ limit: 0 })).items.length, 1);
        assert.equal((await s.listSecrets({ limit: -5 })).items.length, 1);
        assert.equal((await s.listSecrets({ limit: 10_000 })).items.length, 24);
        assert.equal((await s.listSecrets({})).items.length, 24);

        // a cursor from another listing: before the filtered range starts from the top, past it is empty
        const fromA1 = (await s.listSecrets({ app: 'a1', limit: 1 })).next;
        assert.equal((await s.listSecrets({ app: 'a2', env: 'dev', cursor: fromA1 })).items.length, 6);
        const fromA2 = (await s.listSecrets({ app: 'a2', limit: 1 })).next;
        assert.deepEqual(await s.listSecrets({ app: 'a1', cursor: fromA2 }), { items: [], next: null });
        assert.equal((await s.listSecrets({ app: 'a2', env: 'dev', cursor: fromA2 })).items.length, 5);

        await rejectsWith(s.listSecrets({ cursor: 'not a cursor!' }), 'ERR_API_BAD_REQUEST');
        await rejectsWith(s.listSecrets({ cursor: Buffer.from('["a","b","../c"]').toString('base64url') }), 'ERR_API_BAD_REQUEST');
        await rejectsWith(s.listSecrets({ cursor: Buffer.from('{"a":1}').toString('base64url') }), 'ERR_API_BAD_REQUEST');
      });

      withStore('soft delete hides a secret from reads and lists; undelete brings it back', async (s) => {
        await put(s, ref('X'));
        await put(s, ref('Y'));
        assert.equal(await s.softDelete(ref('X')), true);
        assert.equal(await s.softDelete(ref('X')), false);
        assert.equal(await s.softDelete(ref('NOPE')), false);
        assert.equal(await s.getSecret(ref('X')), null);
        assert.equal(await s.getSecret(ref('X'), 1), null);
        assert.deepEqual((await s.getEnv('app', 'prod')).map((v) => v.name), ['Y']);
        assert.deepEqual((await s.listSecrets({})).items.map((m) => m.name), ['Y']);
        const withDeleted = await s.listSecrets({ includeDeleted: true });
        assert.deepEqual(withDeleted.items.map((m) => [m.name, m.deletedAt !== null]), [['X', true], ['Y', false]]);
        const meta = await s.getSecretMeta(ref('X'));
        assert.ok(meta?.deletedAt != null, 'metadata shows the deletion');
        assert.equal((await s.history(ref('X'))).length, 1);

        assert.equal(await s.undelete(ref('X')), true);
        assert.equal(await s.undelete(ref('X')), false);
        assert.equal((await s.getSecret(ref('X')))?.version, 1);
        assert.equal((await s.getSecretMeta(ref('X')))?.deletedAt, null);
      });

      withStore('writing a soft-deleted secret undeletes it and continues its numbering', async (s) => {
        await put(s, ref('X'));
        await put(s, ref('X'));
        await s.softDelete(ref('X'));
        await rejectsWith(put(s, { ...ref('X'), cas: 0 }), 'ERR_API_CONFLICT');
        const v = await put(s, { ...ref('X'), cas: 2 });
        assert.equal(v.version, 3);
        assert.equal((await s.getSecretMeta(ref('X')))?.deletedAt, null);
        assert.equal((await s.getSecret(ref('X')))?.version, 3);
        assert.equal((await s.getSecret(ref('X'), 1))?.version, 1);
      });

      withStore('destroy erases the sealed bytes of chosen versions and keeps their metadata', async (s) => {
        for (let i = 0; i < 4; i++) await put(s, ref('D'));
        assert.equal(await s.destroy(ref('D'), [1, 3, 99]), 2);
        assert.equal(await s.destroy(ref('D'), [1]), 0, 'already destroyed');
        const v1 = await s.getSecret(ref('D'), 1);
        assert.ok(v1 !== null && v1.destroyedAt !== null, 'a destroyed version is reported as such');
        assert.equal(v1.ciphertext.length, 0);
        assert.equal(v1.wrappedKey.length, 0);
        assert.equal(v1.keyId, 'kek-1');
        assert.deepEqual((await s.getSecret(ref('D'), 2))?.ciphertext, fakeSeal(ref('D'), 2).ciphertext);
        assert.equal((await s.getSecret(ref('D')))?.destroyedAt, null);
        const hist = await s.history(ref('D'));
        assert.deepEqual(hist.map((h) => [h.version, h.destroyedAt !== null]), [[1, true], [2, false], [3, true], [4, false]]);

        assert.equal(await s.destroy(ref('D')), 2);
        const latest = await s.getSecret(ref('D'));
        assert.ok(latest?.destroyedAt != null);
        assert.deepEqual(await s.getEnv('app', 'prod'), [], 'a destroyed latest version is not served');
        assert.equal(await s.destroy(ref('NOPE')), 0);
        // a new version after destruction is live again
        assert.equal((await put(s, ref('D'))).version, 5);
        assert.equal((await s.getEnv('app', 'prod')).length, 1);
      });

      withStore('history lists every version metadata, ascending, without the sealed bytes', async (s) => {
        await put(s, ref('H'), { keyId: 'k1' });
        await put(s, ref('H'), { keyId: 'k2', kind: 'file' });
        await put(s, ref('H'), { keyId: 'k3' });
        const h = await s.history(ref('H'));
        assert.deepEqual(h.map((m) => [m.version, m.keyId]), [[1, 'k1'], [2, 'k2'], [3, 'k3']]);
        assert.equal(h[1]?.kind, 'file');
        for (const m of h) {
          assert.equal('ciphertext' in m, false);
          assert.equal('wrappedKey' in m, false);
          assert.equal(m.createdBy, 'spiffe://test/admin');
        }
        assert.deepEqual(await s.history(ref('NOPE')), []);
      });

      withStore('every change of APP/ENV bumps its revision, and only that one', async (s) => {
        assert.equal(await s.envRevision('app', 'prod'), 0);
        await put(s, ref('A'));
        assert.equal(await s.envRevision('app', 'prod'), 1);
        await put(s, ref('A'));
        await put(s, ref('B'));
        assert.equal(await s.envRevision('app', 'prod'), 3);
        assert.equal(await s.envRevision('app', 'dev'), 0);
        await rejectsWith(put(s, { ...ref('A'), cas: 1 }), 'ERR_API_CONFLICT');
        assert.equal(await s.envRevision('app', 'prod'), 3, 'a refused write changes nothing');
        await s.softDelete(ref('A'));
        assert.equal(await s.envRevision('app', 'prod'), 4);
        await s.softDelete(ref('A'));
        assert.equal(await s.envRevision('app', 'prod'), 4);
        await s.undelete(ref('A'));
        assert.equal(await s.envRevision('app', 'prod'), 5);
        await s.destroy(ref('B'));
        assert.equal(await s.envRevision('app', 'prod'), 6);
        await put(s, ref('C', 'app', 'dev'));
        assert.equal(await s.envRevision('app', 'dev'), 1);
        assert.equal(await s.envRevision('app', 'prod'), 6);
      });
    });

    describe('audit', () => {
      withStore('appends records with seq 1, 2, 3… chained from the genesis hash', async (s) => {
        const first = await s.appendAudit([auditEntry(1), auditEntry(2, { detail: 'version 3' })]);
        assert.deepEqual(first.map((r) => r.seq), [1, 2]);
        assert.equal(first[0]?.prevHash, GENESIS_HASH);
        assert.equal(first[1]?.prevHash, first[0]?.hash);
        assert.match(first[0]?.hash ?? '', /^[0-9a-f]{64}$/);
        const second = await s.appendAudit([auditEntry(3, { outcome: 'denied' })]);
        assert.equal(second[0]?.seq, 3);
        assert.equal(second[0]?.prevHash, first[1]?.hash);
        assert.deepEqual(await s.appendAudit([]), []);

        const all = await s.readAudit(0, 100);
        assert.deepEqual(all, [...first, ...second]);
        assert.equal(all[1]?.detail, 'version 3');
        assert.equal('detail' in (all[0] as AuditRecord), false);
        assert.deepEqual((await s.readAudit(1, 1)).map((r) => r.seq), [2]);
        assert.deepEqual(await s.readAudit(3, 10), []);
        const result = await verifyAuditChain(all);
        assert.deepEqual(result, { ok: true, count: 3, last: { seq: 3, hash: second[0]?.hash } });
      });

      withStore('rejects entries the chain cannot encode', async (s) => {
        await assert.rejects(s.appendAudit([auditEntry(1, { time: 1.5 })]), TypeError);
        await assert.rejects(s.appendAudit([{ ...auditEntry(1), path: undefined as unknown as string }]), TypeError);
        assert.deepEqual(await s.readAudit(0, 10), []);
      });

      withStore('200 concurrent appends commit in call order as one unbroken chain', async (s) => {
        const calls = Array.from({ length: 200 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, j) => auditEntry(i * 10 + j, { detail: `call ${i}` })));
        const results = await Promise.all(calls.map((entries) => s.appendAudit(entries)));
        let expected = 1;
        results.forEach((records, i) => {
          assert.equal(records.length, calls[i]?.length);
          for (const r of records) {
            assert.equal(r.seq, expected++, 'seqs follow call order');
            assert.equal(r.detail, `call ${i}`);
          }
        });
        const all = await s.readAudit(0, 10_000);
        assert.equal(all.length, expected - 1);
        assert.deepEqual(all, results.flat());
        const v = await verifyAuditChain(readAllAudit(s, 0, 64));
        assert.equal(v.ok, true);
        assert.equal(v.count, expected - 1);
      });

      withStore('appends made while others are in flight are all kept', async (s) => {
        const a = s.appendAudit([auditEntry(1)]);
        await new Promise((r) => setImmediate(r));
        const b = s.appendAudit([auditEntry(2)]);
        const c = a.then(() => s.appendAudit([auditEntry(3)]));
        const [ra, rb, rc] = await Promise.all([a, b, c]);
        assert.deepEqual([ra[0]?.seq, rb[0]?.seq, rc[0]?.seq], [1, 2, 3]);
        assert.equal((await verifyAuditChain(await s.readAudit(0, 10))).ok, true);
      });

      if (opts.rawSql !== undefined) {
        const rawSql = opts.rawSql;
        const seeded = async (s: Store) => {
          await s.appendAudit(Array.from({ length: 10 }, (_, i) => auditEntry(i)));
          assert.equal((await verifyAuditChain(readAllAudit(s))).ok, true);
        };

        withStore('verify detects a record edited in the database', async (s) => {
          await seeded(s);
          await rawSql(s, "UPDATE audit SET outcome = 'denied' WHERE seq = 4");
          const v = await verifyAuditChain(readAllAudit(s));
          assert.deepEqual([v.ok, v.firstBad, v.reason, v.count], [false, 4, 'hash mismatch', 3]);
        });

        withStore('verify detects an edit whose hash was recomputed (the next link breaks)', async (s) => {
          await seeded(s);
          const orig = (await s.readAudit(3, 1))[0] as AuditRecord;
          const { auditRecordHash } = await import('../../src/store/audit-chain.ts');
          const forged = auditRecordHash(orig.prevHash, 4, { ...orig, outcome: 'denied' });
          await rawSql(s, `UPDATE audit SET outcome = 'denied', hash = '${forged}' WHERE seq = 4`);
          const v = await verifyAuditChain(readAllAudit(s));
          assert.deepEqual([v.ok, v.firstBad, v.reason], [false, 5, 'prev hash mismatch']);
        });

        withStore('verify detects a deleted middle record', async (s) => {
          await seeded(s);
          await rawSql(s, 'DELETE FROM audit WHERE seq = 6');
          const v = await verifyAuditChain(readAllAudit(s));
          assert.deepEqual([v.ok, v.firstBad, v.reason, v.count], [false, 6, 'seq gap', 5]);
        });

        withStore('verify detects a deleted middle record when later ones are renumbered', async (s) => {
          await seeded(s);
          await rawSql(s, 'DELETE FROM audit WHERE seq = 6');
          await rawSql(s, 'UPDATE audit SET seq = -(seq - 1) WHERE seq > 6');
          await rawSql(s, 'UPDATE audit SET seq = -seq WHERE seq < 0');
          const v = await verifyAuditChain(readAllAudit(s));
          assert.deepEqual([v.ok, v.firstBad], [false, 6]);
        });

        withStore('verify detects an inserted record', async (s) => {
          await seeded(s);
          const r3 = (await s.readAudit(2, 1))[0] as AuditRecord;
          // make room after seq 3 (through negative seqs, so the primary key never collides), then insert
          await rawSql(s, 'UPDATE audit SET seq = -(seq + 1) WHERE seq > 3');
          await rawSql(s, 'UPDATE audit SET seq = -seq WHERE seq < 0');
          await rawSql(
            s,
            `INSERT INTO audit (seq, time, identity, serial, source, operation, path, outcome, detail, prev_hash, hash)
             VALUES (4, 1, 'spiffe://evil', '-', '6.6.6.6', 'secret.read', 'a/e/N', 'granted', NULL, '${r3.hash}', '${'ab'.repeat(32)}')`,
          );
          const v = await verifyAuditChain(readAllAudit(s));
          assert.deepEqual([v.ok, v.firstBad, v.reason], [false, 4, 'hash mismatch']);

          // and appended at the end with a made-up hash
          const s2 = await open();
          try {
            await seeded(s2);
            const last = (await s2.readAudit(9, 1))[0] as AuditRecord;
            await rawSql(
              s2,
              `INSERT INTO audit (seq, time, identity, serial, source, operation, path, outcome, detail, prev_hash, hash)
               VALUES (11, 1, 'x', '-', 'y', 'z', 'p', 'granted', NULL, '${last.hash}', '${'cd'.repeat(32)}')`,
            );
            const v2 = await verifyAuditChain(readAllAudit(s2));
            assert.deepEqual([v2.ok, v2.firstBad, v2.reason, v2.count], [false, 11, 'hash mismatch', 10]);
          } finally {
            await s2.close();
          }
        });
      }
    });

    describe('tokens', () => {
      const tok = (hash: string, expiresAt: number) => ({
        hash, app: 'app', env: 'prod', cidrs: ['10.0.0.0/8'], expiresAt, createdAt: 1000, createdBy: 'admin', usedAt: null,
      });

      withStore('a token is consumed once, and never after it expires', async (s) => {
        await s.putToken(tok('a'.repeat(64), 10_000));
        await s.putToken(tok('b'.repeat(64), 10_000));
        await rejectsWith(s.putToken(tok('a'.repeat(64), 10_000)), 'ERR_API_CONFLICT');
        const used = await s.consumeToken('a'.repeat(64), 5000);
        assert.deepEqual(used, { ...tok('a'.repeat(64), 10_000), usedAt: 5000 });
        assert.equal(await s.consumeToken('a'.repeat(64), 5001), null, 'single use');
        assert.equal(await s.consumeToken('b'.repeat(64), 10_000), null, 'expired at expiresAt');
        assert.equal(await s.consumeToken('c'.repeat(64), 1), null, 'unknown');
        assert.notEqual(await s.consumeToken('b'.repeat(64), 9_999), null);
      });

      withStore('findToken reads a token, used or not, without consuming it', async (s) => {
        assert.equal(await s.findToken!('e'.repeat(64)), null);
        await s.putToken(tok('e'.repeat(64), 10_000));
        assert.deepEqual(await s.findToken!('e'.repeat(64)), tok('e'.repeat(64), 10_000));
        assert.deepEqual(await s.findToken!('e'.repeat(64)), tok('e'.repeat(64), 10_000), 'still unused');
        await s.consumeToken('e'.repeat(64), 5);
        assert.equal((await s.findToken!('e'.repeat(64)))?.usedAt, 5);
      });

      withStore('concurrent consumers: exactly one gets the token', async (s) => {
        await s.putToken(tok('d'.repeat(64), 10_000));
        const got = await Promise.all(Array.from({ length: 10 }, () => s.consumeToken('d'.repeat(64), 1)));
        assert.equal(got.filter((t) => t !== null).length, 1);
      });
    });

    describe('recipients and server keys', () => {
      const rec = (app: string, env: string, id: string, kind: 'age' | 'pgp' = 'age') => ({
        app, env, id, kind, key: kind === 'age' ? id : `-----BEGIN PGP PUBLIC KEY BLOCK-----\n${id}\n`, createdAt: 1000, createdBy: 'spiffe://test/admin',
      });

      withStore('recipients are added once per APP/ENV, listed sorted by id, removed', async (s) => {
        assert.deepEqual(await s.listRecipients('shop', 'prod'), []);
        assert.equal(await s.addRecipient(rec('shop', 'prod', 'age1zz')), true);
        assert.equal(await s.addRecipient(rec('shop', 'prod', 'age1aa')), true);
        assert.equal(await s.addRecipient(rec('shop', 'prod', 'pgp:0123abcd', 'pgp')), true);
        assert.equal(await s.addRecipient({ ...rec('shop', 'prod', 'age1aa'), createdAt: 5 }), false, 'already there: unchanged');
        assert.equal(await s.addRecipient(rec('shop', 'dev', 'age1aa')), true, 'another env is another set');
        const listed = await s.listRecipients('shop', 'prod');
        assert.deepEqual(listed.map((r) => r.id), ['age1aa', 'age1zz', 'pgp:0123abcd']);
        assert.deepEqual(listed[0], rec('shop', 'prod', 'age1aa'));
        assert.equal(listed[2]?.kind, 'pgp');
        assert.equal(await s.removeRecipient('shop', 'prod', 'age1zz'), true);
        assert.equal(await s.removeRecipient('shop', 'prod', 'age1zz'), false);
        assert.deepEqual((await s.listRecipients('shop', 'prod')).map((r) => r.id), ['age1aa', 'pgp:0123abcd']);
        assert.deepEqual((await s.listRecipients('shop', 'dev')).map((r) => r.id), ['age1aa']);
        assert.throws(() => s.listRecipients('../x', 'prod'), TypeError);
        assert.throws(() => s.addRecipient({ ...rec('shop', 'prod', 'x'), kind: 'rsa' as 'age' }), TypeError);
      });

      withStore('initServerKey keeps the first key stored under a name', async (s) => {
        assert.equal(await s.getServerKey('age-identity'), null);
        const first = { name: 'age-identity', ciphertext: Buffer.from('ct-1'), wrappedKey: Buffer.from('wk-1'), keyId: 'kek-1', publicKey: 'age1first', createdAt: 10 };
        assert.deepEqual(await s.initServerKey(first), first);
        const second = { ...first, ciphertext: Buffer.from('ct-2'), publicKey: 'age1second', createdAt: 20 };
        assert.deepEqual(await s.initServerKey(second), first, 'the one stored first wins');
        assert.deepEqual(await s.getServerKey('age-identity'), first);
        const racers = await Promise.all(['a', 'b', 'c'].map((x) => s.initServerKey({ ...first, name: 'race', publicKey: `age1${x}` })));
        assert.equal(new Set(racers.map((r) => r.publicKey)).size, 1, 'concurrent initialisers converge');
      });

      withStore('rewrapServerKey moves the envelope only from the expected key id', async (s) => {
        const first = { name: 'age-identity', ciphertext: Buffer.from('ct-1'), wrappedKey: Buffer.from('wk-1'), keyId: 'file:old', publicKey: 'age1first', createdAt: 10 };
        await s.initServerKey(first);
        const moved = { ciphertext: Buffer.from('ct-2'), wrappedKey: Buffer.from('wk-2'), keyId: 'file:new' };
        assert.equal(await s.rewrapServerKey('age-identity', 'file:other', moved), false, 'not wrapped by that key');
        assert.deepEqual(await s.getServerKey('age-identity'), first);
        assert.equal(await s.rewrapServerKey('age-identity', 'file:old', moved), true);
        assert.deepEqual(await s.getServerKey('age-identity'), { ...first, ...moved });
        assert.equal(await s.rewrapServerKey('age-identity', 'file:old', moved), false, 'already moved');
        assert.equal(await s.rewrapServerKey('absent', 'file:old', moved), false);
      });
    });

    describe('certificates and policies', () => {
      const cert = (serial: string, name: string, issuedAt: number) => ({
        serial, name, spiffeId: `spiffe://test/app/a/env/e/${name}`, app: 'a', env: 'e', role: 'workload' as const,
        notBefore: issuedAt, notAfter: issuedAt + 1000, fingerprint: 'f'.repeat(64), issuedAt, revokedAt: null,
      });

      withStore('certificates are recorded, found by serial or name, and revoked', async (s) => {
        await s.recordCertificate(cert('0a', 'web-1', 100));
        await s.recordCertificate(cert('0b', 'web-2', 200));
        await s.recordCertificate(cert('0c', 'web-1', 300));
        await rejectsWith(s.recordCertificate(cert('0a', 'again', 400)), 'ERR_API_CONFLICT');
        await misuse(() => s.recordCertificate({ ...cert('0d', 'x', 1), role: 'root' as 'admin' }));
        assert.deepEqual((await s.listCertificates()).items.map((c) => c.serial), ['0a', '0b', '0c']);
        assert.deepEqual(await s.getCertificate('0b'), cert('0b', 'web-2', 200));
        assert.equal((await s.getCertificate('web-1'))?.serial, '0c', 'a name means its newest certificate');
        assert.equal(await s.getCertificate('nope'), null);
        assert.deepEqual(await s.revokedSerials(), new Set());

        const revoked = await s.revokeCertificate('0b', 500);
        assert.equal(revoked?.revokedAt, 500);
        assert.equal((await s.revokeCertificate('0b', 600))?.revokedAt, 500, 'the first revocation time stays');
        const byName = await s.revokeCertificate('web-1', 700);
        assert.equal(byName?.serial, '0c');
        assert.equal(byName?.revokedAt, 700);
        assert.deepEqual(await s.revokedSerials(), new Set(['0a', '0b', '0c']), 'revoking a name revokes all its certificates');
        assert.equal(await s.revokeCertificate('nope', 1), null);
      });

      withStore('listCertificates pages in (issuedAt, serial) order with an opaque cursor, without gaps or repeats', async (s) => {
        // 3 certificates per issue time, so ties are broken by serial; recorded out of order
        const all = Array.from({ length: 24 }, (_, i) => cert(i.toString(16).padStart(2, '0'), `c-${i}`, 1000 + 100 * Math.floor(i / 3)));
        for (const c of [...all].reverse()) await s.recordCertificate(c);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await s.listCertificates({ limit: 5, cursor });
          assert.ok(page.items.length === 5 || page.next === null, 'only the last page is short');
          seen.push(...page.items.map((c) => c.serial));
          cursor = page.next;
          pages++;
        } while (cursor !== null);
        assert.equal(pages, 5);
        assert.deepEqual(seen, all.map((c) => c.serial));
        assert.deepEqual((await s.listCertificates({ limit: 1000 })).items, all, 'whole records, in order');

        // a page ending on the last row says so (no empty extra page)
        const exact = await s.listCertificates({ limit: 24 });
        assert.equal(exact.items.length, 24);
        assert.equal(exact.next, null);
        assert.equal((await s.listCertificates({ limit: 0 })).items.length, 1);
        assert.equal((await s.listCertificates({ limit: 10_000 })).items.length, 24);
        assert.equal((await s.listCertificates()).items.length, 24);

        // resumes strictly after the cursor's key: the tie at the same issue time continues by serial
        const first = await s.listCertificates({ limit: 4 });
        assert.deepEqual(first.items.map((c) => c.serial), ['00', '01', '02', '03']);
        await s.recordCertificate(cert('ff', 'late', 100_000));
        await s.recordCertificate(cert('fe', 'early', 1));
        const rest = await s.listCertificates({ limit: 1000, cursor: first.next });
        assert.deepEqual(rest.items.map((c) => c.serial), [...all.slice(4).map((c) => c.serial), 'ff'], 'a row before the cursor is not repeated');
        assert.equal(rest.next, null);

        await rejectsWith(s.listCertificates({ cursor: 'not a cursor!' }), 'ERR_API_BAD_REQUEST');
        await rejectsWith(s.listCertificates({ cursor: Buffer.from('["a","e","n"]').toString('base64url') }), 'ERR_API_BAD_REQUEST');
        await rejectsWith(s.listCertificates({ cursor: Buffer.from('["1000","00"]').toString('base64url') }), 'ERR_API_BAD_REQUEST');
        await rejectsWith(s.listCertificates({ cursor: Buffer.from('[1.5,"00"]').toString('base64url') }), 'ERR_API_BAD_REQUEST');
        await rejectsWith(s.listCertificates({ cursor: Buffer.from('[1000,""]').toString('base64url') }), 'ERR_API_BAD_REQUEST');
      });

      withStore('policies are upserted by name, listed by name, deleted', async (s) => {
        await s.putPolicy({ name: 'b', document: '{"rules":[]}', updatedAt: 1, updatedBy: 'x' });
        await s.putPolicy({ name: 'a', document: '{}', updatedAt: 2, updatedBy: 'y' });
        await s.putPolicy({ name: 'b', document: '{"rules":[1]}', updatedAt: 3, updatedBy: 'z' });
        assert.deepEqual(await s.listPolicies(), [
          { name: 'a', document: '{}', updatedAt: 2, updatedBy: 'y' },
          { name: 'b', document: '{"rules":[1]}', updatedAt: 3, updatedBy: 'z' },
        ]);
        assert.equal(await s.deletePolicy('a'), true);
        assert.equal(await s.deletePolicy('a'), false);
        assert.deepEqual((await s.listPolicies()).map((p) => p.name), ['b']);
      });
    });

    describe('key encryption keys and rotation', () => {
      const kek = (app: string, env: string, version: number, extra: Partial<KekRow> = {}): KekRow => ({
        app, env, version, masterKeyId: 'file:00aa', wrapped: Buffer.from(`kek:${app}/${env}/${version}`), createdAt: 100 + version, ...extra,
      });

      withStore('KEK versions are inserted once, read back, the latest found, tombstoned', async (s) => {
        assert.equal(await s.latestKek('shop', 'prod'), null);
        assert.equal(await s.insertKek(kek('shop', 'prod', 1)), true);
        assert.equal(await s.insertKek(kek('shop', 'prod', 1, { wrapped: Buffer.from('other') })), false, 'an existing version is kept');
        assert.equal(await s.insertKek(kek('shop', 'prod', 2)), true);
        assert.equal(await s.insertKek(kek('shop', 'dev', 7)), true);
        assert.deepEqual(await s.getKek('shop', 'prod', 1), kek('shop', 'prod', 1));
        assert.equal(await s.getKek('shop', 'prod', 3), null);
        assert.deepEqual(await s.latestKek('shop', 'prod'), kek('shop', 'prod', 2));
        assert.equal(await s.tombstoneKek('shop', 'prod', 2), true);
        assert.equal(await s.tombstoneKek('shop', 'prod', 2), false, 'already destroyed');
        assert.equal(await s.tombstoneKek('shop', 'prod', 9), false, 'absent');
        const latest = await s.latestKek('shop', 'prod');
        assert.equal(latest?.version, 2, 'a tombstone still counts: versions are never reused');
        assert.equal(latest?.wrapped.length, 0);
        assert.deepEqual((await s.getKek('shop', 'prod', 1))?.wrapped, kek('shop', 'prod', 1).wrapped, 'other versions untouched');
        const all = await s.listKeks();
        assert.deepEqual(all.map((k) => `${k.app}/${k.env}/${k.version}`), ['shop/dev/7', 'shop/prod/1', 'shop/prod/2']);
        assert.ok(all.every((k) => k.wrapped.length === 0 && k.masterKeyId === 'file:00aa'));
        const racers = await Promise.all([1, 2, 3].map((i) => s.insertKek(kek('race', 'e', 1, { wrapped: Buffer.from(`r${i}`) }))));
        assert.deepEqual(racers.filter(Boolean).length, 1, 'of concurrent creators of one version exactly one wins');
        await misuse(() => s.insertKek(kek('../x', 'prod', 1)));
        await misuse(() => s.insertKek(kek('shop', 'prod', 0)));
      });

      withStore('data keys are listed by scope and key id in batches and re-wrapped with check-and-set', async (s) => {
        for (const n of ['c', 'a', 'b']) await put(s, ref(n), { keyId: 'old' });
        await put(s, ref('a'), { keyId: 'new' });
        await put(s, ref('z', 'other', 'prod'), { keyId: 'old' });
        await put(s, ref('d'), { keyId: 'old' });
        await s.destroy(ref('d'));
        assert.deepEqual(await s.keyUsage({ app: 'app', env: 'prod' }), [
          { app: 'app', env: 'prod', keyId: 'new', count: 1 },
          { app: 'app', env: 'prod', keyId: 'old', count: 3 },
        ], 'destroyed versions do not count');
        assert.deepEqual((await s.keyUsage()).map((u) => `${u.app}/${u.env}/${u.keyId}=${u.count}`), ['app/prod/new=1', 'app/prod/old=3', 'other/prod/old=1']);
        const first = await s.wrappedKeys('app', 'prod', 'old', null, 2);
        assert.deepEqual(first.map((k) => `${k.name}#${k.version}`), ['a#1', 'b#1']);
        assert.deepEqual(first[0], { app: 'app', env: 'prod', name: 'a', version: 1, format: 1, wrappedKey: Buffer.from('wk:1'), keyId: 'old' });
        const rest = await s.wrappedKeys('app', 'prod', 'old', { name: 'b', version: 1 }, 2);
        assert.deepEqual(rest.map((k) => `${k.name}#${k.version}`), ['c#1']);

        const rewrap = (name: string, oldKeyId: string, wrapped: string, keyId: string) => ({ ref: { ...ref(name), version: 1 }, oldKeyId, wrappedKey: Buffer.from(wrapped), keyId });
        assert.deepEqual(await s.rewrapKeys([
          rewrap('a', 'old', 'rewrapped', 'new'),
          rewrap('a', 'old', 'again', 'newer'),
          rewrap('d', 'old', 'x', 'new'),
        ]), [true, false, false], 'check-and-set on the old key id; a destroyed version stays destroyed');
        assert.deepEqual(await s.rewrapKeys([]), []);
        const row = await s.getSecret(ref('a'), 1);
        assert.deepEqual([row?.keyId, row?.wrappedKey.toString(), row?.ciphertext.toString()], ['new', 'rewrapped', 'ct:app/prod/a#1'], 'the value is untouched');
        const revision = await s.envRevision('app', 'prod');
        assert.deepEqual(await s.rewrapKeys([rewrap('b', 'old', 'rewrapped', 'new')]), [true]);
        assert.equal(await s.envRevision('app', 'prod'), revision, 'a re-wrap changes no value: no new revision');
        assert.deepEqual((await s.wrappedKeys('app', 'prod', 'old', null, 10)).map((k) => k.name), ['c']);
        await misuse(() => s.wrappedKeys('app', 'prod', 'old', null, 0));
      });
    });

    describe('change notification', () => {
      withStore('a committed write on one instance reaches the subscriber of another on the same database', async (s) => {
        assert.ok(s.subscribe !== undefined && opts.reopen !== undefined);
        const other = await opts.reopen(s);
        try {
          const seen: StoreChange[] = [];
          let wake: () => void = () => undefined;
          const unsubscribe = other.subscribe?.((e) => {
            seen.push(e);
            wake();
          });
          const waitFor = async (pred: (e: StoreChange) => boolean) => {
            const deadline = Date.now() + 1000;
            while (!seen.some(pred)) {
              assert.ok(Date.now() < deadline, `no matching event within a second: ${JSON.stringify(seen)}`);
              await new Promise<void>((r) => {
                wake = r;
                setTimeout(r, 50);
              });
            }
          };
          // listening may take a moment to start (PostgreSQL: LISTEN on its own connection): probe until it does
          for (let i = 0; !seen.some((e) => e.env === 'probe'); i++) {
            assert.ok(i < 20, 'the subscriber never heard a write');
            await put(s, ref('PROBE', 'app', 'probe'));
            await new Promise((r) => setTimeout(r, 100));
          }
          seen.length = 0;
          await put(s, ref('N', 'app', 'staging'));
          await waitFor((e) => e.kind === 'secret' && e.app === 'app' && e.env === 'staging');
          await s.putPolicy({ name: 'p', document: '{}', updatedAt: 1, updatedBy: 'x' });
          await waitFor((e) => e.kind === 'policy');
          await s.recordCertificate({
            serial: '01', name: 'n', spiffeId: 'spiffe://t/x', app: 'a', env: 'e', role: 'workload',
            notBefore: 1, notAfter: 2, fingerprint: 'f'.repeat(64), issuedAt: 1, revokedAt: null,
          });
          await waitFor((e) => e.kind === 'cert');
          // a refused write notifies nothing
          seen.length = 0;
          await rejectsWith(put(s, { ...ref('N', 'app', 'staging'), cas: 0 }), 'ERR_API_CONFLICT');
          assert.equal(await s.softDelete(ref('NOPE')), false);
          await put(s, ref('M', 'app', 'dev'));
          await waitFor((e) => e.env === 'dev');
          assert.deepEqual(seen.filter((e) => e.env === 'staging'), []);
          unsubscribe?.();
          seen.length = 0;
          await put(s, ref('N', 'app', 'staging'));
          await new Promise((r) => setTimeout(r, 100));
          assert.deepEqual(seen, [], 'nothing after unsubscribing');
        } finally {
          await other.close();
        }
      });
    });

    describe('lifecycle', () => {
      withStore('migrate is idempotent', async (s) => {
        await put(s, ref('KEEP'));
        await s.migrate();
        await s.migrate();
        assert.equal((await s.getSecret(ref('KEEP')))?.version, 1);
      });

      test('close flushes queued appends, then every call fails with ERR_STORE_UNAVAILABLE', async () => {
        const s = await open();
        const pending = s.appendAudit([auditEntry(1)]);
        await s.close();
        assert.equal((await pending)[0]?.seq, 1);
        await rejectsWith(s.getEnv('app', 'prod'), 'ERR_STORE_UNAVAILABLE');
        await rejectsWith(put(s, ref('X')), 'ERR_STORE_UNAVAILABLE');
        await rejectsWith(s.appendAudit([auditEntry(2)]), 'ERR_STORE_UNAVAILABLE');
        await s.close();
      });
    });
  });
}
