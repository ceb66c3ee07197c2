import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAuthorizer, checkPolicy, cidrList, normaliseAddress, type Operation, type Policy, type Principal } from '../../src/server/authz.ts';

const td = 'spiffe://ward.test';
const workload = (app: string, env: string, instance = 'i1'): Principal => ({ spiffeId: `${td}/app/${app}/env/${env}/${instance}`, role: 'workload', app, env });
const admin: Principal = { spiffeId: `${td}/admin/root`, role: 'admin', app: '', env: '' };

const policies: Policy[] = [
  checkPolicy('ci', {
    rules: [
      { name: 'deploy-writes', effect: 'allow', identities: [`${td}/app/ci/env/*/*`], operations: ['write', 'list'], paths: ['billing/*/*'] },
      { name: 'no-prod-root', effect: 'deny', identities: [`${td}/app/ci/**`], operations: ['write'], paths: ['billing/prod/ROOT_*'] },
    ],
  }),
  checkPolicy('shared', {
    rules: [
      { name: 'shared-read', effect: 'allow', identities: [`${td}/app/*/env/prod/*`], operations: ['read'], paths: ['shared/prod/**'] },
      { name: 'no-web-db', effect: 'deny', identities: [`${td}/app/web/**`], operations: ['read'], paths: ['shared/prod/DB_*'] },
    ],
  }),
  checkPolicy('office-only', {
    sources: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.66.0.0/16'] },
    rules: [{ name: 'ops-read', effect: 'allow', identities: [`${td}/app/ops/env/*/*`], operations: ['read', 'list'], paths: ['**'] }],
  }),
];
const authz = buildAuthorizer(policies, { deny: ['192.0.2.0/24', '2001:db8:bad::/48'] });

const cases: [string, Principal, Operation, string, string, 'allow' | 'deny', string][] = [
  ['own env read', workload('billing', 'prod'), 'read', 'billing/prod/DB_PASSWORD', '127.0.0.1', 'allow', 'builtin:own-env'],
  ['own env batch scope', workload('billing', 'prod'), 'read', 'billing/prod/*', '127.0.0.1', 'allow', 'builtin:own-env'],
  ['own env list', workload('billing', 'prod'), 'list', 'billing/prod/*', '127.0.0.1', 'allow', 'builtin:own-env'],
  ['own env write', workload('billing', 'prod'), 'write', 'billing/prod/X', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['other env of own app', workload('billing', 'prod'), 'read', 'billing/staging/X', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['other app', workload('billing', 'prod'), 'read', 'web/prod/X', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['other app scope', workload('billing', 'prod'), 'read', 'web/prod/*', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['list everything', workload('billing', 'prod'), 'list', '*/*/*', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['admin op', workload('billing', 'prod'), 'admin', 'policies/x', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['admin does all', admin, 'admin', 'policies/x', '127.0.0.1', 'allow', 'builtin:admin'],
  ['admin not bound by deny rules', admin, 'write', 'billing/prod/ROOT_KEY', '127.0.0.1', 'allow', 'builtin:admin'],
  ['policy allow write', workload('ci', 'main'), 'write', 'billing/prod/API_KEY', '127.0.0.1', 'allow', 'ci/deploy-writes'],
  ['deny wins over allow', workload('ci', 'main'), 'write', 'billing/prod/ROOT_KEY', '127.0.0.1', 'deny', 'ci/no-prod-root'],
  ['deny does not cover whole scope', workload('ci', 'main'), 'list', 'billing/prod/*', '127.0.0.1', 'allow', 'ci/deploy-writes'],
  ['allow op mismatch', workload('ci', 'main'), 'read', 'billing/prod/API_KEY', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['** matches nested', workload('web', 'prod'), 'read', 'shared/prod/TLS_CERT', '127.0.0.1', 'allow', 'shared/shared-read'],
  ['glob deny within segment', workload('web', 'prod'), 'read', 'shared/prod/DB_URL', '127.0.0.1', 'deny', 'shared/no-web-db'],
  ['identity pattern env', workload('web', 'staging'), 'read', 'shared/prod/TLS_CERT', '127.0.0.1', 'deny', 'builtin:default-deny'],
  ['scope overlap allows batch', workload('api', 'prod'), 'read', 'shared/prod/*', '127.0.0.1', 'allow', 'shared/shared-read'],
  ['server deny v4', admin, 'read', 'billing/prod/X', '192.0.2.7', 'deny', 'server:sources'],
  ['server deny v4 mapped', workload('billing', 'prod'), 'read', 'billing/prod/X', '::ffff:192.0.2.7', 'deny', 'server:sources'],
  ['server deny v6', workload('billing', 'prod'), 'read', 'billing/prod/X', '2001:db8:bad::1', 'deny', 'server:sources'],
  ['policy allow list in', workload('ops', 'prod'), 'read', 'web/prod/X', '10.1.2.3', 'allow', 'office-only/ops-read'],
  ['policy allow list v6 in', workload('ops', 'prod'), 'read', 'web/prod/X', '2001:db8:1::5', 'allow', 'office-only/ops-read'],
  ['policy allow list out', workload('ops', 'prod'), 'read', 'web/prod/X', '172.16.0.1', 'deny', 'office-only:sources'],
  ['policy allow list applies to own env too', workload('ops', 'prod'), 'read', 'ops/prod/X', '172.16.0.1', 'deny', 'office-only:sources'],
  ['policy deny list wins', workload('ops', 'prod'), 'read', 'web/prod/X', '10.66.1.1', 'deny', 'office-only:sources'],
  ['policy lists only for its identities', workload('web', 'prod'), 'read', 'web/prod/X', '172.16.0.1', 'allow', 'builtin:own-env'],
  ['unparsable source vs allow list', workload('ops', 'prod'), 'read', 'web/prod/X', 'garbage', 'deny', 'office-only:sources'],
];

for (const [name, principal, op, path, source, decision, rule] of cases) {
  test(`authz: ${name}`, () => {
    const d = authz.decide(principal, op, path, source);
    assert.equal(d.decision, decision, d.reason);
    assert.equal(d.rule, rule);
  });
}

test('authz: no source skips source lists (explain without --source)', () => {
  assert.equal(authz.decide(workload('ops', 'prod'), 'read', 'web/prod/X', undefined).rule, 'office-only/ops-read');
});

test('authz: default deny with no policies at all', () => {
  const empty = buildAuthorizer([]);
  assert.equal(empty.decide(workload('a', 'b'), 'read', 'c/d/e', '::1').decision, 'deny');
  assert.equal(empty.decide(workload('a', 'b'), 'read', 'a/b/e', '::1').decision, 'allow');
});

test('authz: server allow list', () => {
  const a = buildAuthorizer([], { allow: ['127.0.0.1', '::1'] });
  assert.equal(a.decide(admin, 'read', 'a/b/c', '127.0.0.1').decision, 'allow');
  assert.equal(a.decide(admin, 'read', 'a/b/c', '::ffff:127.0.0.1').decision, 'allow');
  assert.equal(a.decide(admin, 'read', 'a/b/c', '::1').decision, 'allow');
  assert.equal(a.decide(admin, 'read', 'a/b/c', '127.0.0.2').rule, 'server:sources');
});

test('policy checks: bad CIDR, duplicate rule names', () => {
  assert.throws(() => checkPolicy('p', { rules: [], sources: { allow: ['10.0.0.0/33'] } }), TypeError);
  assert.throws(() => checkPolicy('p', { rules: [], sources: { deny: ['not-an-ip'] } }), TypeError);
  const rule = { name: 'r', effect: 'allow', identities: [`${td}/**`], operations: ['read'], paths: ['**'] };
  assert.throws(() => checkPolicy('p', { rules: [rule, rule] }), /duplicate/);
});

test('cidrList and normaliseAddress', () => {
  assert.equal(normaliseAddress('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(normaliseAddress('::1'), '::1');
  const l = cidrList(['10.0.0.0/8', '::ffff:192.168.0.0/112', 'fe80::/10']);
  assert.ok(l.check('10.200.0.1', 'ipv4'));
  assert.ok(l.check('fe80::1', 'ipv6'));
  assert.ok(l.check('192.168.3.4', 'ipv4'));
  assert.ok(!l.check('11.0.0.1', 'ipv4'));
  assert.throws(() => cidrList(['::ffff:1.2.3.4/64']), TypeError);
});
