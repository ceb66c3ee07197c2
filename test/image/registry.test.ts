import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialsFromAuthFile, parseChallenge } from '../../src/image/registry-client.ts';

test('WWW-Authenticate challenges: Bearer with realm/service/scope, Basic, quoting', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:team/app:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm="ward-test"'), { scheme: 'basic', params: { realm: 'ward-test' } });
  assert.deepEqual(parseChallenge('Bearer realm=https://a/t, service="s \\"q\\""'), { scheme: 'bearer', params: { realm: 'https://a/t', service: 's "q"' } });
  assert.equal(parseChallenge(undefined), undefined);
});

test('credentials from a Docker config.json: host, https:// keys, docker.io aliases, username/password fields', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-auth-'));
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  const auth = (u: string, p: string) => Buffer.from(`${u}:${p}`).toString('base64');
  writeFileSync(file, JSON.stringify({
    auths: {
      'reg.example.com:5000': { auth: auth('alice', 'pa:ss') },
      'https://other.example.com': { auth: auth('bob', 'x') },
      'https://index.docker.io/v1/': { auth: auth('hub', 'y') },
      'fields.example.com': { username: 'carol', password: 'z' },
    },
  }));
  assert.deepEqual(credentialsFromAuthFile('reg.example.com:5000', file), { username: 'alice', password: 'pa:ss' });
  assert.deepEqual(credentialsFromAuthFile('other.example.com', file), { username: 'bob', password: 'x' });
  assert.deepEqual(credentialsFromAuthFile('docker.io', file), { username: 'hub', password: 'y' });
  assert.deepEqual(credentialsFromAuthFile('fields.example.com', file), { username: 'carol', password: 'z' });
  assert.equal(credentialsFromAuthFile('reg.example.com', file), undefined, 'credentials are per host and port');
  assert.throws(() => credentialsFromAuthFile('x', join(dir, 'missing.json')), { code: 'ERR_CONFIG' });
  const saved = process.env.REGISTRY_AUTH_FILE;
  process.env.REGISTRY_AUTH_FILE = file;
  try {
    assert.deepEqual(credentialsFromAuthFile('reg.example.com:5000'), { username: 'alice', password: 'pa:ss' });
  } finally {
    if (saved === undefined) delete process.env.REGISTRY_AUTH_FILE;
    else process.env.REGISTRY_AUTH_FILE = saved;
  }
});
