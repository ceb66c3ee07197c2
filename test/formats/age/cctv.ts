/**
 * Loader for the CCTV age test kit (npm `cctv-age`, https://github.com/C2SP/CCTV/tree/main/age):
 * each vector is a text header of `key: value` lines, a blank line, then the (maybe zlib'd) file.
 */
import { inflateSync } from 'node:zlib';
import * as vectors from 'cctv-age';

export type Expect = 'success' | 'no match' | 'HMAC failure' | 'header failure' | 'payload failure' | 'armor failure';

export interface Vector {
  name: string;
  expect: Expect;
  payloadHash: string | undefined;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  comment: string | undefined;
  file: Buffer;
}

export function loadVectors(): Vector[] {
  return Object.entries(vectors as Record<string, Uint8Array>).map(([name, raw]) => {
    const buf = Buffer.from(raw);
    const split = buf.indexOf('\n\n');
    const meta = new Map<string, string[]>();
    for (const line of buf.toString('utf8', 0, split).split('\n')) {
      const i = line.indexOf(': ');
      const key = line.slice(0, i);
      meta.set(key, [...(meta.get(key) ?? []), line.slice(i + 2)]);
    }
    const body = buf.subarray(split + 2);
    const compressed = meta.get('compressed')?.[0];
    if (compressed !== undefined && compressed !== 'zlib') throw new Error(`${name}: unknown compression ${compressed}`);
    return {
      name,
      expect: meta.get('expect')![0] as Expect,
      payloadHash: meta.get('payload')?.[0],
      identities: meta.get('identity') ?? [],
      passphrases: meta.get('passphrase') ?? [],
      armored: meta.get('armored')?.[0] === 'yes',
      comment: meta.get('comment')?.[0],
      file: compressed ? inflateSync(body) : Buffer.from(body),
    };
  });
}
