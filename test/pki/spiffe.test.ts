import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTrustDomain, formatSpiffeId, parseSpiffeId, type SpiffeId } from '../../src/pki/index.ts';
import { WardError } from '../../src/errors.ts';

const valid: [string, SpiffeId][] = [
  ['spiffe://ward.local/app/web/env/prod/web-1', { trustDomain: 'ward.local', kind: 'workload', app: 'web', env: 'prod', instance: 'web-1' }],
  ['spiffe://prod.example.com/app/Billing_API/env/eu-west.1/i.0', { trustDomain: 'prod.example.com', kind: 'workload', app: 'Billing_API', env: 'eu-west.1', instance: 'i.0' }],
  ['spiffe://ward.local/admin/admin', { trustDomain: 'ward.local', kind: 'admin', name: 'admin' }],
  ['spiffe://a/admin/0', { trustDomain: 'a', kind: 'admin', name: '0' }],
  [`spiffe://ward.local/admin/${'a'.repeat(128)}`, { trustDomain: 'ward.local', kind: 'admin', name: 'a'.repeat(128) }],
  ['spiffe://my_td-1.local/app/a/env/b/c', { trustDomain: 'my_td-1.local', kind: 'workload', app: 'a', env: 'b', instance: 'c' }],
];

for (const [uri, id] of valid) {
  test(`parse and format ${uri.slice(0, 60)}`, () => {
    assert.deepEqual(parseSpiffeId(uri), id);
    assert.equal(formatSpiffeId(id), uri);
  });
}

const invalid = [
  '',
  'spiffe:/ward.local/admin/a',
  'SPIFFE://ward.local/admin/a',
  'https://ward.local/admin/a',
  'spiffe://ward.local',
  'spiffe://ward.local/',
  'spiffe://Ward.local/admin/a',
  'spiffe://ward.local:443/admin/a',
  'spiffe://user@ward.local/admin/a',
  'spiffe://ward..local/admin/a',
  'spiffe://ward.local./admin/a',
  'spiffe://.ward.local/admin/a',
  'spiffe://ward.local/admin/',
  'spiffe://ward.local/admin/a/',
  'spiffe://ward.local/admin/a/b',
  'spiffe://ward.local/admin/-a',
  'spiffe://ward.local/admin/.a',
  'spiffe://ward.local/admin/a b',
  'spiffe://ward.local/admin/a%2Fb',
  'spiffe://ward.local/admin/a?x=1',
  'spiffe://ward.local/admin/a#f',
  `spiffe://ward.local/admin/${'a'.repeat(129)}`,
  'spiffe://ward.local/app/web/env/prod',
  'spiffe://ward.local/app/web/env/prod/i/j',
  'spiffe://ward.local/app/web/environment/prod/i',
  'spiffe://ward.local/app//env/prod/i',
  'spiffe://ward.local/app/../env/prod/i',
  'spiffe://ward.local/apps/web/env/prod/i',
  'spiffe://ward.local/app/wéb/env/prod/i',
  'spiffe://ward.local/server/x',
  'spiffe://ward.local//admin/a',
];

for (const uri of invalid) {
  test(`refuse ${JSON.stringify(uri.slice(0, 60))}`, () => {
    assert.throws(() => parseSpiffeId(uri), (e: unknown) => e instanceof WardError && e.code === 'ERR_PKI_INVALID_SPIFFE_ID');
  });
}

test('formatSpiffeId refuses bad segments and names the part', () => {
  assert.throws(() => formatSpiffeId({ trustDomain: 'ward.local', kind: 'workload', app: 'a/b', env: 'e', instance: 'i' }),
    (e: unknown) => e instanceof WardError && e.code === 'ERR_PKI_INVALID_SPIFFE_ID' && /invalid app/.test(e.message));
  assert.throws(() => formatSpiffeId({ trustDomain: 'ward.local', kind: 'workload', app: 'a', env: '', instance: 'i' }), /invalid env/);
  assert.throws(() => formatSpiffeId({ trustDomain: 'ward.local', kind: 'admin', name: 'x y' }), /invalid admin name/);
  assert.throws(() => formatSpiffeId({ trustDomain: 'WARD', kind: 'admin', name: 'x' }), /invalid trust domain/);
  assert.throws(() => formatSpiffeId({ trustDomain: 'ward.local', kind: 'other' } as unknown as SpiffeId), TypeError);
});

test('trust domains', () => {
  for (const td of ['ward.local', 'a', 'prod-1.example.com', 'x_y']) assert.equal(checkTrustDomain(td), td);
  for (const td of ['', 'Ward.local', '-a', 'a..b', 'a.', 'a/b', 'a:1', 'a'.repeat(256)]) {
    assert.throws(() => checkTrustDomain(td), (e: unknown) => e instanceof WardError && e.code === 'ERR_PKI_INVALID_SPIFFE_ID');
  }
});

test('parseSpiffeId rejects a non-string as misuse', () => {
  assert.throws(() => parseSpiffeId(42 as unknown as string), TypeError);
});
