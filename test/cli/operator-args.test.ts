import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WardError } from '../../src/errors.ts';
import { parseCertName, parseOperation, parsePolicyName, parseRole, parseScope, parseSecretPath, parseTtl, parseVersion } from '../../src/cli/operator/parse.ts';
import { parsePolicyFile } from '../../src/cli/operator/policy.ts';
import { formatTime, renderTable } from '../../src/cli/operator/format.ts';
import { formatRecord, lastSeq } from '../../src/cli/operator/audit.ts';
import type { WardAdminClient } from '../../src/client/admin.ts';

const usage = (e: unknown) => e instanceof WardError && e.code === 'ERR_USAGE' && e.exitCode === 2;

test('parseSecretPath: exactly APP/ENV/NAME of valid segments', () => {
  assert.deepEqual(parseSecretPath('shop/prod/DB_PASSWORD'), { app: 'shop', env: 'prod', name: 'DB_PASSWORD' });
  assert.deepEqual(parseSecretPath('a.b/c-d/tls.key'), { app: 'a.b', env: 'c-d', name: 'tls.key' });
  for (const bad of ['shop/prod', 'shop/prod/x/y', '/prod/x', 'shop//x', 'shop/prod/.hidden', 'shop/prod/a b', `shop/prod/${'x'.repeat(129)}`, 'shop/prod/*']) {
    assert.throws(() => parseSecretPath(bad), usage, bad);
  }
});

test('parseScope: nothing, APP, APP/ENV', () => {
  assert.deepEqual(parseScope(undefined), {});
  assert.deepEqual(parseScope('shop'), { app: 'shop' });
  assert.deepEqual(parseScope('shop/prod'), { app: 'shop', env: 'prod' });
  assert.deepEqual(parseScope('shop/prod/'), { app: 'shop', env: 'prod' });
  assert.deepEqual(parseScope('shop/'), { app: 'shop' });
  for (const bad of ['shop/prod/x', '-x', '/prod']) assert.throws(() => parseScope(bad), usage, bad);
});

test('parseVersion, --cas 0, parseTtl, parseRole, parseOperation, names', () => {
  assert.equal(parseVersion('3', '--version'), 3);
  assert.equal(parseVersion('0', '--cas', true), 0);
  for (const bad of ['0', '-1', '1.5', 'x', '', '9999999999999999']) assert.throws(() => parseVersion(bad, '--version'), usage, bad);
  assert.equal(parseTtl('720h'), 720 * 3600);
  assert.equal(parseTtl('1h30m'), 5400);
  assert.equal(parseTtl('90'), 90);
  for (const bad of ['30s', '500ms', 'soon', '1h2x']) assert.throws(() => parseTtl(bad), usage, bad);
  assert.equal(parseRole('client'), 'workload');
  assert.equal(parseRole('admin'), 'admin');
  assert.throws(() => parseRole('server'), usage);
  assert.equal(parseOperation('write'), 'write');
  assert.throws(() => parseOperation('delete'), usage);
  assert.equal(parseCertName('web-1'), 'web-1');
  assert.throws(() => parseCertName('../x'), usage);
  assert.throws(() => parsePolicyName(undefined, 'f.json'), usage);
  assert.throws(() => parsePolicyName(42, 'f.json'), usage);
});

const RULES = [{ name: 'r', effect: 'allow', identities: ['spiffe://ward.local/**'], operations: ['read'], paths: ['a/b/c'] }];

test('policy files: JSON or TOML, name from the file or --name, the rest is the document', async () => {
  const json = JSON.stringify({ name: 'readers', description: 'd', rules: RULES });
  assert.deepEqual(await parsePolicyFile(json, 'p.json', undefined), { name: 'readers', document: { description: 'd', rules: RULES } });
  assert.deepEqual(await parsePolicyFile(JSON.stringify({ rules: RULES }), 'p.json', 'other'), { name: 'other', document: { rules: RULES } });
  const toml = 'name = "readers"\n[[rules]]\nname = "r"\neffect = "allow"\nidentities = ["spiffe://ward.local/**"]\noperations = ["read"]\npaths = ["a/b/c"]\n';
  const fromToml = await parsePolicyFile(toml, 'p.toml', undefined);
  assert.equal(fromToml.name, 'readers');
  assert.deepEqual(JSON.parse(JSON.stringify(fromToml.document)), { rules: RULES });
  await assert.rejects(parsePolicyFile(json, 'p.json', 'different'), usage);
  await assert.rejects(parsePolicyFile('{"rules": [', 'p.json', 'x'), usage);
  await assert.rejects(parsePolicyFile('[]', 'p.json', 'x'), usage);
  await assert.rejects(parsePolicyFile(JSON.stringify({ rules: RULES }), 'p.json', undefined), usage);
});

test('output: UTC times to the second, aligned tables, control characters neutralised', () => {
  assert.equal(formatTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05Z');
  assert.equal(formatTime('2026-01-02T03:04:05.000Z'), '2026-01-02T03:04:05Z');
  assert.equal(formatTime(null), '-');
  assert.equal(renderTable(['A', 'LONGER'], [['xxxx', 'y'], ['z', 'w\x1b[2J']]), 'A     LONGER\nxxxx  y\nz     w?[2J');
  const line = formatRecord({ seq: 7, time: 0, identity: 'spiffe://w/admin/a', source: '127.0.0.1', operation: 'secret.read', path: 'a/b/c', outcome: 'granted', detail: 'version=1\n' });
  assert.equal(line, '#7 1970-01-01T00:00:00Z granted secret.read a/b/c by spiffe://w/admin/a from 127.0.0.1 (version=1?)');
});

test('audit tail finds the last sequence number with few probes, for any log length', async () => {
  for (const total of [1000, 1001, 1999, 2000, 2001, 3000, 7000, 12345, 100_000]) {
    let probes = 0;
    const client = {
      readAudit: async ({ after = 0, limit = 100 }: { after?: number; limit?: number }) => {
        probes++;
        const records = [];
        for (let seq = after + 1; seq <= Math.min(total, after + limit); seq++) records.push({ seq });
        return records;
      },
    } as unknown as WardAdminClient;
    assert.equal(await lastSeq(client, 1000), total, `total ${total}`);
    assert.ok(probes <= 2 * Math.ceil(Math.log2(total)) + 2, `${probes} probes for ${total}`);
  }
});
