import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeOnePem, decodePem, encodePem, MAX_PEM_BYTES, parseCertificate } from '../../src/pki/index.ts';
import { isSingleDerSequence, uriNameConstraints } from '../../src/pki/der.ts';
import { WardError } from '../../src/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

test('encodePem: 64-column lines, final newline; decodePem inverts it for every length', () => {
  for (const n of [1, 2, 3, 47, 48, 49, 95, 96, 97, 500]) {
    const der = randomBytes(n);
    const pem = encodePem(der, 'CERTIFICATE');
    assert.ok(pem.endsWith('-----END CERTIFICATE-----\n'));
    for (const line of pem.split('\n')) assert.ok(line.length <= 64 || line.startsWith('-----'), line);
    assert.deepEqual(decodeOnePem(pem, 'CERTIFICATE', 'ERR_PKI_INVALID_CERT'), der);
    assert.deepEqual(decodeOnePem(pem.replace(/\n/g, '\r\n'), 'CERTIFICATE', 'ERR_PKI_INVALID_CERT'), der);
  }
});

test('decodePem: several blocks, surrounding whitespace', () => {
  const a = encodePem(Buffer.from('a'), 'CERTIFICATE');
  const b = encodePem(Buffer.from('b'), 'PRIVATE KEY');
  const blocks = decodePem(`\n  ${a}\n${b}  \n`, 'ERR_PKI_INVALID_CERT');
  assert.deepEqual(blocks.map((x) => [x.label, x.der.toString()]), [['CERTIFICATE', 'a'], ['PRIVATE KEY', 'b']]);
});

test('decodePem refuses what is not strict PEM', () => {
  const good = encodePem(randomBytes(40), 'CERTIFICATE');
  const bad = [
    '',
    'hello',
    `text before\n${good}`,
    `${good}text after`,
    good.replace('-----END CERTIFICATE-----', '-----END PRIVATE KEY-----'),
    good.replace('-----BEGIN CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n'),
    good.replace(/=*\n-----END/, '\n-----END').replace(/\n([A-Za-z0-9+/])/, '\n$1$1'),
    '-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n',
    '-----BEGIN CERTIFICATE-----\nQQ=\n-----END CERTIFICATE-----\n',
    '-----BEGIN CERTIFICATE-----\nQR==\n-----END CERTIFICATE-----\n',
  ];
  for (const text of bad) assert.throws(() => decodePem(text, 'ERR_PKI_INVALID_CERT'), code('ERR_PKI_INVALID_CERT'), JSON.stringify(text.slice(0, 50)));
  assert.throws(() => decodeOnePem(good + good, 'CERTIFICATE', 'ERR_PKI_INVALID_CERT'), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => decodeOnePem(good, 'PRIVATE KEY', 'ERR_PKI_INVALID_CERT'), code('ERR_PKI_INVALID_CERT'));
});

test('size bounds: at the limit is parsed, one byte over is refused unread', () => {
  const pad = (n: number) => ' '.repeat(n);
  const good = encodePem(Buffer.from('x'), 'CERTIFICATE');
  assert.equal(decodePem(good + pad(MAX_PEM_BYTES - good.length), 'ERR_PKI_INVALID_CERT').length, 1);
  assert.throws(() => decodePem(good + pad(MAX_PEM_BYTES - good.length + 1), 'ERR_PKI_INVALID_CERT'), code('ERR_PKI_TOO_LARGE'));
  assert.throws(() => decodePem(good, 'ERR_PKI_INVALID_CERT', 10), code('ERR_PKI_TOO_LARGE'));
});

test('parseCertificate refuses DER with trailing bytes and non-certificates', () => {
  assert.throws(() => parseCertificate(encodePem(Buffer.from([0x30, 0x00]), 'CERTIFICATE')), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => parseCertificate(Buffer.from([0x30, 0x01, 0x00, 0x00])), code('ERR_PKI_INVALID_CERT'));
});

test('isSingleDerSequence: exact, minimal definite lengths only', () => {
  const table: [number[], boolean][] = [
    [[0x30, 0x00], true],
    [[0x30, 0x01, 0x05], true],
    [[0x30, 0x01], false],
    [[0x30, 0x00, 0x00], false],
    [[0x31, 0x00], false],
    [[0x30, 0x80, 0x00, 0x00], false],
    [[0x30, 0x81, 0x05, 1, 2, 3, 4, 5], false],
    [[0x30, 0x82, 0x00, 0x80, ...new Array(0x80).fill(0)], false],
    [[], false],
  ];
  for (const [bytes, ok] of table) assert.equal(isSingleDerSequence(Uint8Array.from(bytes)), ok, JSON.stringify(bytes.slice(0, 4)));
  assert.equal(isSingleDerSequence(Uint8Array.from([0x30, 0x81, 0x80, ...new Array(0x80).fill(0)])), true);
  assert.equal(isSingleDerSequence(Uint8Array.from([0x30, 0x82, 0x01, 0x00, ...new Array(0x100).fill(0)])), true);
});

test('uriNameConstraints: DER of permittedSubtrees [ URI host ]', () => {
  assert.equal(uriNameConstraints('ward.local').toString('hex'), '3010a00e300c860a776172642e6c6f63616c');
  const long = 'a'.repeat(200);
  const der = uriNameConstraints(long);
  assert.equal(isSingleDerSequence(der), true);
  assert.ok(der.subarray(-200).equals(Buffer.from(long)));
});
