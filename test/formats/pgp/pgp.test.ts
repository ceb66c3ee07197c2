// OpenPGP messages through src/formats/pgp: round trips, detection, key handling, failures by code.
// Interop with GnuPG itself is in test/interop/gpg.interop.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { encrypt as ageEncrypt, X25519Identity, type ByteSink, type ByteSource } from '../../../src/formats/age/index.ts';
import { decryptPgp, encryptPgp, isOpenPgpData, peek, readPublicKeys, readSecretKeys, sniff } from '../../../src/formats/pgp/index.ts';
import { WardError } from '../../../src/errors.ts';

const WARD = new URL('../../../bin/ward.js', import.meta.url).pathname;

function source(data: Buffer, chunk = 1000): ByteSource {
  let at = 0;
  return {
    async read() {
      if (at >= data.length) return null;
      const b = data.subarray(at, at + chunk);
      at += chunk;
      return b;
    },
  };
}

function sink(): ByteSink & { data(): Buffer } {
  const parts: Buffer[] = [];
  return {
    async write(chunks) {
      for (const c of chunks) parts.push(Buffer.from(c));
    },
    data: () => Buffer.concat(parts),
  };
}

function code(c: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof WardError, String(e));
    assert.equal(e.code, c, e.message);
    return true;
  };
}

const noPassphrase = async (): Promise<Buffer> => assert.fail('no passphrase expected');

async function keyPair(passphrase?: string) {
  const k = await generateKey({ type: 'curve25519', userIDs: [{ email: 'w@example.org' }], passphrase, format: 'armored' });
  return { pub: Buffer.from(k.publicKey), sec: Buffer.from(k.privateKey) };
}

async function encryptTo(pub: Buffer, plain: Buffer, armor: boolean): Promise<Buffer> {
  const out = sink();
  await encryptPgp(source(plain), out, await readPublicKeys(pub, 'pub.asc'), { armor });
  return out.data();
}

async function decryptWith(sec: Buffer, message: Buffer, passphrase = noPassphrase, streamUnverified = false): Promise<Buffer> {
  const out = sink();
  await decryptPgp(source(message, 777), out, await readSecretKeys(sec, 'sec.asc'), passphrase, { streamUnverified });
  return out.data();
}

test('round trip, binary and armored, sizes 0, 1 and 200 001 bytes (RSA keys: in the gpg interop suite)', async () => {
  {
    const { pub, sec } = await keyPair();
    for (const size of [0, 1, 200_001]) {
      const plain = randomBytes(size);
      for (const armor of [false, true]) {
        const msg = await encryptTo(pub, plain, armor);
        assert.equal(sniff(msg), armor ? 'armored' : 'binary');
        if (armor) assert.match(msg.toString(), /^-----BEGIN PGP MESSAGE-----\n/);
        assert.ok((await decryptWith(sec, msg)).equals(plain), `${size} ${armor}`);
        assert.ok((await decryptWith(sec, msg, noPassphrase, true)).equals(plain), `${size} ${armor} streamed`);
      }
    }
  }
});

test('several recipients: each secret key opens the message', async () => {
  const a = await keyPair();
  const b = await keyPair();
  const out = sink();
  await encryptPgp(source(Buffer.from('hello')), out, [...(await readPublicKeys(a.pub, 'a')), ...(await readPublicKeys(b.pub, 'b'))]);
  for (const k of [a, b]) assert.equal((await decryptWith(k.sec, out.data())).toString(), 'hello');
});

test('a protected key: the passphrase is asked for once; a wrong one is ERR_PGP_PASSPHRASE', async () => {
  const { pub, sec } = await keyPair('correct horse');
  const msg = await encryptTo(pub, Buffer.from('secret'), true);
  let asked = 0;
  const right = async (): Promise<Buffer> => (asked++, Buffer.from('correct horse'));
  assert.equal((await decryptWith(sec, msg, right)).toString(), 'secret');
  assert.equal(asked, 1);
  await assert.rejects(decryptWith(sec, msg, async () => Buffer.from('wrong')), code('ERR_PGP_PASSPHRASE'));
});

test('failures: another key, a tampered message, garbage, key files that are not keys', async () => {
  const { pub } = await keyPair();
  const other = await keyPair();
  const plain = randomBytes(5000);
  const msg = await encryptTo(pub, plain, false);
  await assert.rejects(decryptWith(other.sec, msg), code('ERR_PGP_NO_KEY'));
  const { sec } = await keyPair();
  const mine = await keyPair();
  const msg2 = await encryptTo(mine.pub, plain, false);
  const tampered = Buffer.from(msg2);
  tampered[tampered.length - 100]! ^= 1;
  await assert.rejects(decryptWith(mine.sec, tampered), code('ERR_PGP_MESSAGE'));
  await assert.rejects(decryptWith(mine.sec, tampered, noPassphrase, true), code('ERR_PGP_MESSAGE'));
  await assert.rejects(decryptWith(mine.sec, msg2.subarray(0, msg2.length - 30)), code('ERR_PGP_MESSAGE'));
  await assert.rejects(decryptWith(sec, Buffer.from('-----BEGIN PGP MESSAGE-----\n\nnot base64 !!\n-----END PGP MESSAGE-----\n')), (e) => e instanceof WardError && /^ERR_PGP_(MESSAGE|NO_KEY)$/.test(e.code));
  await assert.rejects(readPublicKeys(Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n'), 'bad.asc'), code('ERR_PGP_KEY'));
  await assert.rejects(readSecretKeys(pub, 'pub.asc'), code('ERR_PGP_KEY'));
});

test('detection: age files and identities are not OpenPGP; peek replays what it read', async () => {
  const id = X25519Identity.generate();
  const age = await ageEncrypt([id.recipient], Buffer.from('x'));
  const ageArmored = await ageEncrypt([id.recipient], Buffer.from('x'), { armor: true });
  assert.equal(sniff(age), 'other');
  assert.equal(sniff(ageArmored), 'other');
  assert.equal(isOpenPgpData(Buffer.from(id.toString())), false);
  const { pub, sec } = await keyPair();
  assert.ok(isOpenPgpData(pub) && isOpenPgpData(sec));
  assert.equal(sniff(Buffer.from('\n\n  -----BEGIN PGP MESSAGE-----')), 'armored');
  const data = randomBytes(3000);
  for (const chunk of [1, 7, 5000]) {
    const p = await peek(source(data, chunk));
    const parts: Buffer[] = [];
    for (let b = await p.source.read(); b !== null; b = await p.source.read()) parts.push(Buffer.from(b));
    assert.ok(Buffer.concat(parts).equals(data), `chunk ${chunk}`);
  }
});

test('ward decrypt: to stdout; -o of a tampered OpenPGP message (plaintext streamed before the MDC) leaves no file, exit 3', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-pgp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { pub, sec } = await keyPair();
  writeFileSync(join(dir, 'sec.asc'), sec);
  const plain = randomBytes(300_000);
  const msg = await encryptTo(pub, plain, false);
  writeFileSync(join(dir, 'good.gpg'), msg);
  const good = spawnSync(process.execPath, [WARD, 'decrypt', '-i', join(dir, 'sec.asc'), join(dir, 'good.gpg')], { maxBuffer: 1 << 20 });
  assert.equal(good.status, 0, good.stderr.toString());
  assert.ok(good.stdout.equals(plain), 'to stdout');
  rmSync(join(dir, 'good.gpg'));
  msg[msg.length - 50]! ^= 1;
  writeFileSync(join(dir, 'msg.gpg'), msg);
  const r = spawnSync(process.execPath, [WARD, 'decrypt', '-i', join(dir, 'sec.asc'), '-o', join(dir, 'out'), join(dir, 'msg.gpg')], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /ERR_PGP_MESSAGE/);
  assert.deepEqual(readdirSync(dir).sort(), ['msg.gpg', 'sec.asc']);
});

test('ward encrypt: pgp: recipients cannot be mixed with age recipients, -R or -p (usage error, exit 2)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-pgp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { pub } = await keyPair();
  writeFileSync(join(dir, 'k.asc'), pub);
  writeFileSync(join(dir, 'in'), 'x');
  const age = X25519Identity.generate().recipient.toString();
  for (const extra of [['-r', age], ['-p']]) {
    const r = spawnSync(process.execPath, [WARD, 'encrypt', '-r', `pgp:${join(dir, 'k.asc')}`, ...extra, '-o', join(dir, 'out'), join(dir, 'in')], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ERR_USAGE/);
  }
});
