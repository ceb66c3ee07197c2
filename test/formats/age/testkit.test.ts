/**
 * Every vector of the CCTV age test kit (npm cctv-age), one test each, run through the buffered,
 * chunked-streaming and (for small files) byte-by-byte paths. Success vectors must decrypt to the
 * payload hash; each failure class must fail with its error code; for payload failures, the
 * plaintext released before the error must hash to the vector's payload hash (only verified
 * chunks). Header and armor encodings must round-trip byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { WardError, type WardErrorCode } from '../../../src/errors.ts';
import { ArmorDecoder, ArmorEncoder, createDecryptor, parseHeader, parseIdentity, serializeHeader, ScryptIdentity, transformBuffer, X25519Identity, type Identity, type Transformer } from '../../../src/formats/age/index.ts';
import { loadVectors, type Expect, type Vector } from './cctv.ts';

const CODES: Record<Expect, WardErrorCode | null> = {
  success: null,
  'no match': 'ERR_AGE_NO_IDENTITY_MATCH',
  'HMAC failure': 'ERR_AGE_HMAC_MISMATCH',
  'header failure': 'ERR_AGE_HEADER',
  'payload failure': 'ERR_AGE_PAYLOAD',
  'armor failure': 'ERR_AGE_ARMOR',
};

function identities(v: Vector): Identity[] {
  const ids = [...v.identities.map((s) => parseIdentity(s)), ...v.passphrases.map((p) => new ScryptIdentity(Buffer.from(p)))];
  // Vectors that fail before any key is needed name none: an unrelated key stands in.
  return ids.length > 0 ? ids : [X25519Identity.generate()];
}

type Feed = (t: Transformer, input: Buffer, out: Buffer[]) => Promise<void>;

const whole: Feed = async (t, input, out) => {
  await t.push(input, out);
  await t.finish(out);
};

const chunked: Feed = async (t, input, out) => {
  // Uneven pieces so chunk, line and header boundaries fall everywhere.
  const sizes = [1, 7, 4093, 65536 + 17, 3, 65552, 100000];
  let off = 0;
  for (let i = 0; off < input.length; i++) {
    const n = sizes[i % sizes.length]!;
    await t.push(input.subarray(off, off + n), out);
    off += n;
  }
  await t.finish(out);
};

const byteByByte: Feed = async (t, input, out) => {
  for (let i = 0; i < input.length; i++) await t.push(input.subarray(i, i + 1), out);
  await t.finish(out);
};

async function run(v: Vector, feed: Feed): Promise<{ released: Buffer; error: unknown }> {
  const t = createDecryptor(identities(v), { armor: v.armored });
  const out: Buffer[] = [];
  let error: unknown = null;
  try {
    await feed(t, v.file, out);
  } catch (e) {
    error = e;
  }
  return { released: Buffer.concat(out), error };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

// The one refinement of a kit class: a scrypt work factor above Ward's bound is a header failure
// that gets its own code (ERR_AGE_SCRYPT_WORK_FACTOR), so the CLI can say what is wrong.
function acceptable(v: Vector): WardErrorCode[] {
  const code = CODES[v.expect];
  if (code === null) return [];
  return v.name === 'scrypt_work_factor_23' || v.name === 'scrypt_work_factor_overflow' ? ['ERR_AGE_SCRYPT_WORK_FACTOR'] : [code];
}

function check(v: Vector, mode: string, r: { released: Buffer; error: unknown }): void {
  if (v.expect === 'success') {
    assert.equal(r.error, null, `${mode}: unexpected error ${String(r.error)}`);
    assert.equal(sha256(r.released), v.payloadHash, `${mode}: payload hash`);
    return;
  }
  assert.ok(r.error instanceof WardError, `${mode}: expected a WardError, got ${String(r.error)}`);
  assert.ok(acceptable(v).includes(r.error.code), `${mode}: expected ${acceptable(v).join('|')}, got ${r.error.code}: ${r.error.message}`);
  if (v.expect === 'payload failure') {
    // Only verified chunks may have been released: exactly what the kit says the API releases.
    assert.equal(sha256(r.released), v.payloadHash, `${mode}: released plaintext`);
  } else {
    assert.equal(r.released.length, 0, `${mode}: plaintext released before a ${v.expect}`);
  }
}

async function binaryOf(v: Vector): Promise<Buffer> {
  return v.armored ? transformBuffer(new ArmorDecoder(), v.file) : v.file;
}

const vectors = loadVectors();

test('the CCTV kit is all there', () => {
  assert.ok(vectors.length >= 140, `only ${vectors.length} vectors`);
  for (const expect of Object.keys(CODES)) assert.ok(vectors.some((v) => v.expect === expect), `no ${expect} vector`);
});

for (const v of vectors) {
  test(`cctv ${v.name}: ${v.expect}`, async () => {
    check(v, 'buffered', await run(v, whole));
    check(v, 'chunked', await run(v, chunked));
    if (v.file.length <= 8192) check(v, 'byte-by-byte', await run(v, byteByByte));

    if (v.expect !== 'header failure' && v.expect !== 'armor failure') {
      // The header re-serializes to exactly the bytes received.
      const bin = await binaryOf(v);
      const parsed = parseHeader(bin);
      assert.ok(parsed, 'header parses');
      assert.ok(serializeHeader(parsed.header).equals(bin.subarray(0, parsed.length)), 'header round trip');
    }
    if (v.armored && v.expect === 'success') {
      // Armor re-encodes to the input up to the tolerated whitespace and CRLF.
      const bin = await binaryOf(v);
      const again = await transformBuffer(new ArmorEncoder(), bin);
      assert.equal(again.toString(), v.file.toString().replace(/\r\n/g, '\n').trim() + '\n');
    }
  });
}
