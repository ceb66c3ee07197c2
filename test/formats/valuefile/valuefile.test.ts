// Per-value encrypted .env/TOML/YAML/JSON: round trips, tamper detection, stable re-encryption.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X25519Identity } from '../../../src/formats/age/index.ts';
import { decryptValueFile, decryptValueFileText, encryptValueFile, formatFromPath, isEncryptedValueFile, type ValueFileFormat } from '../../../src/formats/valuefile/index.ts';
import { WardError } from '../../../src/errors.ts';

const id = X25519Identity.generate();
const other = X25519Identity.generate();
const opts = { recipients: [id.recipient], recipientNames: [id.recipient.toString()] };

const samples: Record<ValueFileFormat, { text: string; expect: Record<string, string> }> = {
  env: {
    text: '# database\nexport DB_USER=admin\nDB_PASSWORD="s3cr3t \\"quoted\\"\\nline2" # inline comment\n\nAPI_KEY=\'abc#def\'\nEMPTY=\nURL=http://x/?a=1#frag\n',
    expect: { DB_USER: 'admin', DB_PASSWORD: 's3cr3t "quoted"\nline2', API_KEY: 'abc#def', EMPTY: '', URL: 'http://x/?a=1#frag' },
  },
  yaml: {
    text: '# app config\ndb:\n  user: admin # who\n  password: "s3cr3t"\n  port: 5432\nflags: [true, false]\nservers:\n  - host: a.example\n    tls: yes\nnothing: null\n',
    expect: { 'db.user': 'admin', 'db.password': 's3cr3t', 'db.port': '5432', 'flags[0]': 'true', 'flags[1]': 'false', 'servers[0].host': 'a.example', 'servers[0].tls': 'yes' },
  },
  json: {
    text: '{\n  "db": {\n    "user": "admin",\n    "password": "s3cr3t",\n    "port": 5432\n  },\n  "list": [\n    1.5,\n    true,\n    null\n  ]\n}\n',
    expect: { 'db.user': 'admin', 'db.password': 's3cr3t', 'db.port': '5432', 'list[0]': '1.5', 'list[1]': 'true' },
  },
  toml: {
    text: 'title = "demo"\n\n[db]\nuser = "admin"\npassword = "s3cr3t"\nport = 5432\nenabled = true\n',
    expect: { title: 'demo', 'db.user': 'admin', 'db.password': 's3cr3t', 'db.port': '5432', 'db.enabled': 'true' },
  },
};

const formats = Object.keys(samples) as ValueFileFormat[];

function code(c: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof WardError, String(e));
    assert.equal(e.code, c, e.message);
    return true;
  };
}

for (const format of formats) {
  const { text, expect } = samples[format];

  test(`${format}: round trip, keys readable, values hidden`, async () => {
    const enc = await encryptValueFile(text, format, opts);
    assert.ok(isEncryptedValueFile(enc, format));
    assert.ok(!enc.includes('s3cr3t'), enc);
    assert.ok(enc.includes('WARD[v1:age:s:'));
    for (const key of Object.keys(expect)) assert.ok(enc.includes(key.split('.').pop()!.replace(/\[\d+\]$/, '')), key);
    const values = await decryptValueFile(enc, format, [id]);
    assert.deepEqual(Object.fromEntries([...values].map(([k, v]) => [k, v.toString()])), expect);
    assert.equal(await decryptValueFileText(enc, format, [id]), text);
  });

  test(`${format}: re-encrypting an unchanged file gives the identical file; a changed value changes only its own line and the MAC`, async () => {
    const enc = await encryptValueFile(text, format, opts);
    const again = await encryptValueFile(text, format, { ...opts, previous: { text: enc, identities: [id] } });
    assert.equal(again, enc);
    const noRecipients = await encryptValueFile(text, format, { recipients: [], recipientNames: [], previous: { text: enc, identities: [id] } });
    assert.equal(noRecipients, enc);
    const changed = text.replace('admin', 'root');
    const enc2 = await encryptValueFile(changed, format, { ...opts, previous: { text: enc, identities: [id] } });
    const a = enc.split('\n');
    const b = enc2.split('\n');
    assert.equal(a.length, b.length);
    const diff = a.map((l, i) => (l === b[i] ? -1 : i)).filter((i) => i >= 0);
    const changedLines = diff.map((i) => b[i]!);
    assert.equal(changedLines.length, 2, changedLines.join('\n'));
    assert.match(changedLines[0]!, /user|DB_USER/);
    assert.match(changedLines[1]!, /mac|WARD_MAC/);
    assert.equal((await decryptValueFile(enc2, format, [id])).get(format === 'env' ? 'DB_USER' : 'db.user')?.toString(), 'root');
  });

  test(`${format}: edited ciphertext, a moved value, a removed value, an added plaintext value are detected`, async () => {
    const enc = await encryptValueFile(text, format, opts);
    const tokens = [...enc.matchAll(/WARD\[v1:age:[snb]:([A-Za-z0-9+/=]+)\]/g)];
    assert.ok(tokens.length >= 3);
    // Edit one byte of a ciphertext (keep base64 canonical: flip a middle character).
    const t0 = tokens[0]![1]!;
    const mid = Math.floor(t0.length / 2);
    const edited = enc.replace(t0, t0.slice(0, mid) + (t0[mid] === 'A' ? 'B' : 'A') + t0.slice(mid + 1));
    await assert.rejects(decryptValueFile(edited, format, [id]), code('ERR_VALUEFILE_AUTH'));
    // Swap two string tokens: each now sits under another key.
    const s = tokens.filter((t) => t[0].startsWith('WARD[v1:age:s:'));
    const swapped = enc.replace(s[0]![0], '\u0000').replace(s[1]![0], s[0]![0]).replace('\u0000', s[1]![0]);
    await assert.rejects(decryptValueFile(swapped, format, [id]), code('ERR_VALUEFILE_AUTH'));
    // Remove a value: every remaining value opens, the MAC does not.
    const removed = await removeFirst(enc, format);
    await assert.rejects(decryptValueFile(removed, format, [id]), code('ERR_VALUEFILE_MAC'));
    // Wrong identity.
    await assert.rejects(decryptValueFile(enc, format, [other]), code('ERR_AGE_NO_IDENTITY_MATCH'));
  });
}

/** Drops the first value from an encrypted file, in its own syntax. */
async function removeFirst(enc: string, format: ValueFileFormat): Promise<string> {
  switch (format) {
    case 'env':
      return enc.replace(/^export DB_USER=.*\n/m, '');
    case 'yaml':
      return enc.replace(/^ {2}user: .*\n/m, '');
    case 'json': {
      const o = JSON.parse(enc) as { db: Record<string, unknown> };
      delete o.db.user;
      return JSON.stringify(o, null, 2) + '\n';
    }
    case 'toml':
      return enc.replace(/^user = .*\n/m, '');
  }
}

test('env: a reordered value and an added plaintext value are detected', async () => {
  const enc = await encryptValueFile('A=1\nB=2\nC=3\n', 'env', opts);
  const lines = enc.split('\n');
  const reordered = [lines[1], lines[0], ...lines.slice(2)].join('\n');
  await assert.rejects(decryptValueFile(reordered, 'env', [id]), code('ERR_VALUEFILE_MAC'));
  await assert.rejects(decryptValueFile(`EVIL=1\n${enc}`, 'env', [id]), code('ERR_VALUEFILE_FORMAT'));
  // A token copied to a new key: it does not open there.
  const copied = `${lines[0]!.replace(/^A=/, 'D=')}\n${enc}`;
  await assert.rejects(decryptValueFile(copied, 'env', [id]), code('ERR_VALUEFILE_AUTH'));
});

test('env: layout survives byte for byte, CRLF included', async () => {
  const text = '# c\r\nexport  A = "x y"  # keep\r\n\r\nB=\'q\'\r\n';
  const enc = await encryptValueFile(text, 'env', opts);
  assert.match(enc, /^# c\r\nexport {2}A = "WARD\[v1:age:s:[^\]]+\]" {2}# keep\r\n\r\nB='WARD\[/);
  assert.equal(await decryptValueFileText(enc, 'env', [id]), text);
});

test('a new recipient set re-wraps the file key but keeps every value token', async () => {
  const text = 'A=1\nB=2\n';
  const enc = await encryptValueFile(text, 'env', opts);
  const both = { recipients: [id.recipient, other.recipient], recipientNames: [id.recipient.toString(), other.recipient.toString()] };
  const enc2 = await encryptValueFile(text, 'env', { ...both, previous: { text: enc, identities: [id] } });
  assert.deepEqual(enc2.split('\n').slice(0, 2), enc.split('\n').slice(0, 2));
  assert.notEqual(enc2, enc);
  assert.equal((await decryptValueFile(enc2, 'env', [other])).get('B')?.toString(), '2');
  // The recipients list is covered by the MAC.
  const edited = enc2.replace(/^WARD_RECIPIENTS=([^,\n]*),.*$/m, 'WARD_RECIPIENTS=$1');
  await assert.rejects(decryptValueFile(edited, 'env', [id]), code('ERR_VALUEFILE_MAC'));
});

test('bad input: already encrypted, syntax errors without echoing content, unknown version, not encrypted', async () => {
  const enc = await encryptValueFile('A=1\n', 'env', opts);
  await assert.rejects(encryptValueFile(enc, 'env', opts), code('ERR_VALUEFILE_SYNTAX'));
  await assert.rejects(encryptValueFile('A="unterminated\n', 'env', opts), code('ERR_VALUEFILE_SYNTAX'));
  await assert.rejects(encryptValueFile('A=1\nA=2\n', 'env', opts), code('ERR_VALUEFILE_SYNTAX'));
  await assert.rejects(encryptValueFile('{"a": "hunter2", }', 'json', opts), (e) => code('ERR_VALUEFILE_SYNTAX')(e) && !(e as Error).message.includes('hunter2'));
  await assert.rejects(encryptValueFile('a: [hunter2\n', 'yaml', opts), (e) => code('ERR_VALUEFILE_SYNTAX')(e) && !(e as Error).message.includes('hunter2'));
  await assert.rejects(decryptValueFile(enc.replace(/v1:/g, 'v2:'), 'env', [id]), code('ERR_VALUEFILE_FORMAT'));
  await assert.rejects(decryptValueFile('A=1\n', 'env', [id]), code('ERR_VALUEFILE_FORMAT'));
  await assert.rejects(decryptValueFile(enc.replace('WARD[v1:age:s:', 'WARD[v1:age:x:'), 'env', [id]), code('ERR_VALUEFILE_FORMAT'));
});

test('formatFromPath', () => {
  assert.equal(formatFromPath('.env'), 'env');
  assert.equal(formatFromPath('dir/.env.production'), 'env');
  assert.equal(formatFromPath('app.env'), 'env');
  assert.equal(formatFromPath('c.yml'), 'yaml');
  assert.equal(formatFromPath('c.YAML'), 'yaml');
  assert.equal(formatFromPath('c.toml'), 'toml');
  assert.equal(formatFromPath('c.json'), 'json');
  assert.equal(formatFromPath('c.txt'), null);
});

test('toml: values rewritten in place, so comments, layout and number spelling survive byte for byte', async () => {
  const text = [
    '# service config',
    'name = "svc"   # trailing',
    "path = 'C:\\dir'",
    'big = 1_000',
    'hex = 0x1F',
    'when = 1979-05-27',
    'empty = []',
    '',
    '[db]',
    '"quoted key" = "a\\tbé"',
    'nested.inner = true',
    '',
    '[[servers]]',
    'host = "a"',
    '[[servers]]',
    'host = "b"',
    '[servers.tls]',
    'cert = "x"',
    '',
  ].join('\n');
  const enc = await encryptValueFile(text, 'toml', opts);
  assert.match(enc, /^# service config\nname = "WARD\[v1:age:s:[^\]]+\]" {3}# trailing\npath = 'WARD\[/);
  assert.match(enc, /\nbig = "WARD\[v1:age:n:/);
  assert.match(enc, /\nwhen = 1979-05-27\nempty = \[\]\n/);
  assert.match(enc, /\n\[_ward\]\nversion = 1\n/);
  const values = await decryptValueFile(enc, 'toml', [id]);
  assert.deepEqual(Object.fromEntries([...values].map(([k, v]) => [k, v.toString()])), {
    name: 'svc', path: 'C:\\dir', big: '1_000', hex: '0x1F', 'db.quoted key': 'a\tbé', 'db.nested.inner': 'true', 'servers[0].host': 'a', 'servers[1].host': 'b', 'servers[1].tls.cert': 'x',
  });
  assert.equal(await decryptValueFileText(enc, 'toml', [id]), text);
  assert.equal(await encryptValueFile(text, 'toml', { ...opts, previous: { text: enc, identities: [id] } }), enc);
});

test('toml: a value inside an array falls back to smol-toml (comments lost, values kept)', async () => {
  const text = '# gone\nports = [80, 443]\nname = "x"\n';
  const enc = await encryptValueFile(text, 'toml', opts);
  assert.ok(!enc.includes('# gone'));
  const values = await decryptValueFile(enc, 'toml', [id]);
  assert.deepEqual([...values.keys()], ['ports[0]', 'ports[1]', 'name']);
  assert.equal(await decryptValueFileText(enc, 'toml', [id]), 'ports = [ 80, 443 ]\nname = "x"\n');
});
