import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderConfig } from '../../src/config.ts';
import { WardError } from '../../src/errors.ts';
import { resolveContext } from '../../src/cli/context.ts';

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-ctx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function deployment(dir: string, clientServer = 'https://ward.example:9443'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ward.toml'), renderConfig({ trustDomain: 'ward.local', clientServer }));
  return dir;
}

const isWard = (code: string) => (e: unknown) => e instanceof WardError && e.code === code;

test('inside a deployment: its [client] server and admin identity, with no flags', async (t) => {
  const dep = deployment(tmp(t));
  const ctx = await resolveContext({}, {}, dep);
  assert.deepEqual(ctx.servers, ['https://ward.example:9443']);
  assert.equal(ctx.identityDir, join(dep, 'admin'));
  assert.equal(ctx.configPath, join(dep, 'ward.toml'));
  assert.deepEqual(ctx.from, { servers: 'config', identity: 'config' });
});

test('a subdirectory of a deployment finds it, as git finds .git', async (t) => {
  const dep = deployment(tmp(t));
  const sub = join(dep, 'data', 'x');
  mkdirSync(sub, { recursive: true });
  assert.equal((await resolveContext({}, {}, sub)).identityDir, join(dep, 'admin'));
});

test('next to a deployment made by a bare `ward init`: ./ward/ward.toml', async (t) => {
  const root = tmp(t);
  deployment(join(root, 'ward'));
  const ctx = await resolveContext({}, {}, root);
  assert.equal(ctx.identityDir, join(root, 'ward', 'admin'));
});

test('flags beat environment, environment beats ward.toml, each setting on its own', async (t) => {
  const dep = deployment(tmp(t));
  const env = { WARD_SERVER: 'https://a:1, https://b:2', WARD_IDENTITY: 'ids/env' };
  const fromEnv = await resolveContext({}, env, dep);
  assert.deepEqual(fromEnv.servers, ['https://a:1', 'https://b:2']);
  assert.equal(fromEnv.identityDir, join(dep, 'ids/env'));
  assert.deepEqual(fromEnv.from, { servers: 'env', identity: 'env' });
  assert.equal(fromEnv.configPath, undefined, 'ward.toml is not read when nothing is missing');

  const fromFlags = await resolveContext({ server: ['https://c:3', 'https://d:4,https://e:5'], identity: '/abs/id' }, env, dep);
  assert.deepEqual(fromFlags.servers, ['https://c:3', 'https://d:4', 'https://e:5']);
  assert.equal(fromFlags.identityDir, '/abs/id');

  const mixed = await resolveContext({ identity: 'mine' }, {}, dep);
  assert.deepEqual(mixed.servers, ['https://ward.example:9443']);
  assert.equal(mixed.identityDir, join(dep, 'mine'));
  assert.deepEqual(mixed.from, { servers: 'config', identity: 'flag' });
});

test('--config and WARD_CONFIG point at a deployment elsewhere (file or directory)', async (t) => {
  const root = tmp(t);
  const dep = deployment(join(root, 'prod'), 'https://prod:8443');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(elsewhere);
  assert.deepEqual((await resolveContext({ config: dep }, {}, elsewhere)).servers, ['https://prod:8443']);
  assert.deepEqual((await resolveContext({ config: '../prod/ward.toml' }, {}, elsewhere)).servers, ['https://prod:8443']);
  assert.deepEqual((await resolveContext({}, { WARD_CONFIG: join(dep, 'ward.toml') }, elsewhere)).servers, ['https://prod:8443']);
});

test('an explicit --config is read (and checked) even when flags set everything', async (t) => {
  const root = tmp(t);
  writeFileSync(join(root, 'ward.toml'), '[client]\nserver = "http://plain:80"\n');
  await assert.rejects(resolveContext({ server: ['https://x:1'], identity: 'i', config: root }, {}, root), isWard('ERR_CONFIG'));
  // without --config, a broken ward.toml nearby does not matter when nothing is missing
  assert.deepEqual((await resolveContext({ server: ['https://x:1'], identity: 'i' }, {}, root)).servers, ['https://x:1']);
});

test('nowhere to go: ERR_CONFIG (exit 8) with a hint', async (t) => {
  const empty = tmp(t);
  const e = await resolveContext({}, {}, empty).catch((x: unknown) => x);
  assert.ok(e instanceof WardError && e.code === 'ERR_CONFIG' && e.exitCode === 8);
  assert.match(e.hint ?? '', /ward init/);
  await assert.rejects(resolveContext({ server: [' , '] }, {}, empty), isWard('ERR_USAGE'));
});
