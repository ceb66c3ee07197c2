import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { buildEnv, envName, inheritedRefs, type FetchedSecret } from '../../../src/client/run/env.ts';
import { renderTemplate, templateRefs } from '../../../src/client/run/template.ts';

const s = (name: string, value: string, kind: 'env' | 'file' = 'env'): FetchedSecret => ({ name, value: Buffer.from(value), kind });
const none = () => undefined;

test('secret names map to variable names', () => {
  for (const [name, variable] of [['DB_URL', 'DB_URL'], ['db.password', 'db_password'], ['1key', '_1key'], ['a-b', 'a_b'], ['_x', '_x']]) {
    assert.equal(envName(name!), variable);
  }
});

test('secrets become variables; inherited ones win unless override; files are not variables', () => {
  const secrets = [s('A', '1'), s('B', '2'), s('cert.pem', 'PEM', 'file')];
  assert.deepEqual(buildEnv({ B: 'inherited', PATH: '/bin' }, secrets, { override: false, resolve: none }), { A: '1', B: 'inherited', PATH: '/bin' });
  assert.deepEqual(buildEnv({ B: 'inherited' }, secrets, { override: true, resolve: none }), { A: '1', B: '2' });
});

test('two secrets mapping to one variable, or a NUL byte, are refused', () => {
  assert.throws(() => buildEnv({}, [s('a.b', '1'), s('a_b', '2')], { override: false, resolve: none }), { code: 'ERR_RUN_VALUE' });
  assert.throws(() => buildEnv({}, [s('A', 'x\0y')], { override: false, resolve: none }), { code: 'ERR_RUN_VALUE' });
});

test('ward: references are resolved, in inherited variables and in secret values', () => {
  const resolve = (ref: string) => (ref === 'shared/prod/TOKEN' ? Buffer.from('tok') : undefined);
  const base = { T1: 'ward:shared/prod/TOKEN' };
  assert.deepEqual(inheritedRefs(base), ['shared/prod/TOKEN']);
  assert.deepEqual(buildEnv(base, [s('T2', 'ward:shared/prod/TOKEN')], { override: false, resolve }), { T1: 'tok', T2: 'tok' });
  assert.throws(() => buildEnv({ X: 'ward:other/prod/NOPE' }, [], { override: false, resolve }), (e: Error & { code?: string }) => e.code === 'ERR_RUN_MISSING' && /X refers to other\/prod\/NOPE/.test(e.message));
});

test('ENCRYPTED_ variables are decrypted with STORE_PASSWORD and exposed without the prefix', () => {
  const password = 'store-pw';
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', createHash('sha256').update(password).digest(), nonce);
  const body = Buffer.concat([c.update('s3cr3t'), c.final()]);
  const hex = Buffer.concat([nonce, body, c.getAuthTag()]).toString('hex');
  const env = buildEnv({ ENCRYPTED_API_KEY: hex }, [s('STORE_PASSWORD', password)], { override: false, resolve: none });
  assert.equal(env.API_KEY, 's3cr3t');
  assert.equal(env.ENCRYPTED_API_KEY, undefined);
  assert.throws(() => buildEnv({ ENCRYPTED_API_KEY: hex }, [], { override: false, resolve: none }), { code: 'ERR_RUN_MISSING' });
  const tampered = hex.slice(0, -2) + (hex.endsWith('00') ? '01' : '00');
  assert.throws(() => buildEnv({ ENCRYPTED_API_KEY: tampered }, [s('STORE_PASSWORD', password)], { override: false, resolve: none }), (e: Error & { code?: string }) => e.code === 'ERR_SECURESTORE_AUTH' && e.message.includes('ENCRYPTED_API_KEY'));
});

test('templates: names, references, escapes; nothing else', () => {
  const values: Record<string, string> = { USER: 'app', PASS: 'p@ss', 'shared/prod/HOST': 'db.local' };
  const lookup = (ref: string) => (ref in values ? Buffer.from(values[ref]!) : undefined);
  const src = 'user={{USER}}\npass={{ PASS }}\nhost={{shared/prod/HOST}}\nliteral=\\{{USER}}\n';
  assert.deepEqual(templateRefs(src, 't'), ['USER', 'PASS', 'shared/prod/HOST']);
  assert.equal(renderTemplate(src, 't', lookup).toString(), 'user=app\npass=p@ss\nhost=db.local\nliteral={{USER}}\n');
  for (const bad of ['{{ USER | upper }}', '{{#if USER}}', '{{ a/b }}', 'x {{ USER']) {
    assert.throws(() => renderTemplate(bad, 't', lookup), { code: 'ERR_TEMPLATE' }, bad);
  }
  assert.throws(() => renderTemplate('{{ MISSING }}', 't', lookup), { code: 'ERR_TEMPLATE' });
});
