/**
 * Round trips with the age-encryption library (typage, the reference TypeScript age; a test
 * oracle only) in both directions, for X25519, several recipients, hybrid, scrypt and armor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as typage from 'age-encryption';
import { decrypt, encrypt, HybridIdentity, parseIdentity, parseRecipient, ScryptIdentity, ScryptRecipient, X25519Identity } from '../../../src/formats/age/index.ts';

const SIZES = [0, 1, 65535, 65536, 65537, 2 * 65536, 300_000];

test('Ward encrypts to X25519, typage decrypts', async () => {
  const id = X25519Identity.generate();
  for (const size of SIZES) {
    const plaintext = randomBytes(size);
    const ct = await encrypt([id.recipient], plaintext);
    const d = new typage.Decrypter();
    d.addIdentity(id.toString());
    assert.ok(Buffer.from(await d.decrypt(ct)).equals(plaintext), `size ${size}`);
  }
});

test('typage encrypts to X25519, Ward decrypts', async () => {
  const secret = await typage.generateX25519Identity();
  const recipient = await typage.identityToRecipient(secret);
  assert.equal(X25519Identity.parse(secret).recipient.toString(), recipient, 'same recipient derivation');
  for (const size of SIZES) {
    const plaintext = randomBytes(size);
    const e = new typage.Encrypter();
    e.addRecipient(recipient);
    const ct = await e.encrypt(plaintext);
    assert.ok((await decrypt([parseIdentity(secret)], ct)).equals(plaintext), `size ${size}`);
  }
});

test('several recipients, both directions; each identity opens the file', async () => {
  const ids = [X25519Identity.generate(), X25519Identity.generate(), X25519Identity.generate()];
  const plaintext = randomBytes(70_000);
  const ct = await encrypt(ids.map((i) => i.recipient), plaintext);
  for (const id of ids) {
    const d = new typage.Decrypter();
    d.addIdentity(id.toString());
    assert.ok(Buffer.from(await d.decrypt(ct)).equals(plaintext));
  }
  const e = new typage.Encrypter();
  for (const id of ids) e.addRecipient(id.recipient.toString());
  const ct2 = await e.encrypt(plaintext);
  for (const id of ids) assert.ok((await decrypt([id], ct2)).equals(plaintext));
});

test('hybrid mlkem768x25519, both directions', async () => {
  const secret = await typage.generateHybridIdentity();
  const recipient = await typage.identityToRecipient(secret);
  assert.equal(HybridIdentity.parse(secret).recipient.toString(), recipient);
  const plaintext = randomBytes(1000);
  const e = new typage.Encrypter();
  e.addRecipient(recipient);
  assert.ok((await decrypt([parseIdentity(secret)], await e.encrypt(plaintext))).equals(plaintext));
  const ct = await encrypt([parseRecipient(recipient)], plaintext);
  const d = new typage.Decrypter();
  d.addIdentity(secret);
  assert.ok(Buffer.from(await d.decrypt(ct)).equals(plaintext));
});

test('scrypt passphrase, both directions (low work factor for speed)', async () => {
  const plaintext = randomBytes(5000);
  const ct = await encrypt([new ScryptRecipient(Buffer.from('correct horse'), 10)], plaintext);
  const d = new typage.Decrypter();
  d.addPassphrase('correct horse');
  assert.ok(Buffer.from(await d.decrypt(ct)).equals(plaintext));

  const e = new typage.Encrypter();
  e.setPassphrase('battery staple');
  e.setScryptWorkFactor(10);
  const ct2 = await e.encrypt(plaintext);
  assert.ok((await decrypt([new ScryptIdentity(Buffer.from('battery staple'))], ct2)).equals(plaintext));
  await assert.rejects(decrypt([new ScryptIdentity(Buffer.from('wrong'))], ct2), { code: 'ERR_AGE_NO_IDENTITY_MATCH' });
});

test('scrypt work factor above the bound is refused before any work', async () => {
  const e = new typage.Encrypter();
  e.setPassphrase('p');
  e.setScryptWorkFactor(12);
  const ct = await e.encrypt(new Uint8Array(1));
  await assert.rejects(decrypt([new ScryptIdentity(Buffer.from('p'), 11)], ct), { code: 'ERR_AGE_SCRYPT_WORK_FACTOR' });
});

test('armor, both directions', async () => {
  const id = X25519Identity.generate();
  const plaintext = randomBytes(10_000);
  const armored = await encrypt([id.recipient], plaintext, { armor: true });
  assert.match(armored.toString(), /^-----BEGIN AGE ENCRYPTED FILE-----\n([A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END AGE ENCRYPTED FILE-----\n$/);
  const d = new typage.Decrypter();
  d.addIdentity(id.toString());
  assert.ok(Buffer.from(await d.decrypt(typage.armor.decode(armored.toString()))).equals(plaintext));

  const e = new typage.Encrypter();
  e.addRecipient(id.recipient.toString());
  const theirs = typage.armor.encode(await e.encrypt(plaintext));
  assert.ok((await decrypt([id], Buffer.from(theirs))).equals(plaintext), 'auto-detected armor');
  assert.ok((await decrypt([id], Buffer.from(theirs), { armor: true })).equals(plaintext));
  await assert.rejects(decrypt([id], Buffer.from(theirs), { armor: false }), { code: 'ERR_AGE_HEADER' });
});

test('a scrypt recipient cannot be mixed with others', async () => {
  await assert.rejects(encrypt([new ScryptRecipient(Buffer.from('p'), 10), X25519Identity.generate().recipient], Buffer.alloc(1)), { code: 'ERR_AGE_RECIPIENT' });
});
