/**
 * Sealed values (docs/sealed.md) are standard messages the app's own tools open: gpg decrypts a
 * value `ward seal` would store for an OpenPGP recipient, `age -d` one for an age recipient, and
 * what gpg and age encrypt to the app's keys opens with `ward run --identity FILE`'s code.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIdentitiesFile } from '../../src/formats/age/index.ts';
import { readSecretKeys } from '../../src/formats/pgp/index.ts';
import { openSealedValue, parseSealRecipient, sealValue } from '../../src/formats/sealed/index.ts';

let dir = '';
let home = '';
const p = (name: string) => join(dir, name);

function tool(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { env: { ...process.env, GNUPGHOME: home }, input, maxBuffer: 1 << 24 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
  return r.stdout;
}
const gpg = (...args: string[]) => tool('gpg', ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--trust-model', 'always', ...args]);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-sealed-interop-'));
  home = mkdtempSync(join(tmpdir(), 'ward-sealed-gnupg-'));
  gpg('--passphrase', '', '--quick-gen-key', 'app <app@example.org>', 'ed25519', 'cert', 'never');
  const fpr = gpg('--with-colons', '--list-keys', 'app@example.org').toString().split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
  gpg('--passphrase', '', '--quick-add-key', fpr, 'cv25519', 'encr', 'never');
  writeFileSync(p('app.pub.asc'), gpg('--armor', '--export', fpr));
  writeFileSync(p('app.sec.asc'), gpg('--passphrase', '', '--armor', '--export-secret-keys', fpr));
  tool('age-keygen', ['-o', p('app.agekey')]);
});

after(() => {
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } });
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test('OpenPGP: gpg opens a sealed value; a value gpg encrypts to the key opens as a sealed value', async () => {
  const recipient = await parseSealRecipient(readFileSync(p('app.pub.asc')), 'app.pub.asc');
  const sealed = await sealValue([recipient], Buffer.from('pgp sealed value'), 'shop/prod');
  assert.equal(tool('gpg', ['--batch', '--quiet', '--decrypt'], sealed).toString(), 'pgp sealed value');
  const fromGpg = tool('gpg', ['--batch', '--quiet', '--trust-model', 'always', '--encrypt', '-r', 'app@example.org'], Buffer.from('from gpg'));
  const keys = await readSecretKeys(readFileSync(p('app.sec.asc')), 'app.sec.asc');
  assert.equal((await openSealedValue(fromGpg, { age: [], pgp: keys }, 'X')).toString(), 'from gpg');
});

test('age: age -d opens a sealed value; a value age encrypts to the recipient opens as a sealed value', async () => {
  const keyText = readFileSync(p('app.agekey'), 'utf8');
  const recipientText = /public key: (age1\S+)/.exec(keyText)![1]!;
  const sealed = await sealValue([await parseSealRecipient(Buffer.from(recipientText), 'r')], Buffer.from('age sealed value'), 'shop/prod');
  writeFileSync(p('v.age'), sealed);
  assert.equal(tool('age', ['-d', '-i', p('app.agekey'), p('v.age')]).toString(), 'age sealed value');
  const fromAge = tool('age', ['-r', recipientText], Buffer.from('from age'));
  assert.equal((await openSealedValue(fromAge, { age: parseIdentitiesFile(keyText, 'app.agekey'), pgp: [] }, 'X')).toString(), 'from age');
});
