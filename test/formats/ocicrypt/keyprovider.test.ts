import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseKeyProviderRequest, parseKeyProviderResponse, serializeKeyProviderRequest, serializeKeyUnwrapResponse, serializeKeyWrapResponse,
} from '../../../src/formats/ocicrypt/index.ts';

const opts = Buffer.from('{"symkey":"AAAA","digest":"sha256:00","cipheroptions":{}}');
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

test('keywrap request: the exact bytes ocicrypt (Go encoding/json) sends, and back', () => {
  const req = { op: 'keywrap' as const, parameters: { ward: [Buffer.from('app/prod/image-key')] }, decryptParameters: {}, optsData: opts };
  const wire = serializeKeyProviderRequest(req).toString();
  assert.equal(wire, `{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"ward":["${b64('app/prod/image-key')}"]},"DecryptConfig":{"Parameters":{}}},"optsdata":"${b64(opts)}"},"keyunwrapparams":{"dc":null,"annotation":null}}`);
  assert.deepEqual(parseKeyProviderRequest(Buffer.from(wire)), req);
});

test('keyunwrap request round trip; Go nulls and missing parameters are accepted', () => {
  const req = { op: 'keyunwrap' as const, parameters: { ward: [Buffer.from('x')] }, annotation: Buffer.from('wrapped') };
  assert.deepEqual(parseKeyProviderRequest(serializeKeyProviderRequest(req)), req);
  const goStyle = `{"op":"keyunwrap","keywrapparams":{"ec":null,"optsdata":null},"keyunwrapparams":{"dc":{"Parameters":null},"annotation":"${b64('a')}"}}`;
  assert.deepEqual(parseKeyProviderRequest(Buffer.from(goStyle)), { op: 'keyunwrap', parameters: {}, annotation: Buffer.from('a') });
});

test('responses: serialize and parse for each operation', () => {
  assert.deepEqual(parseKeyProviderResponse(serializeKeyWrapResponse(Buffer.from('ann')), 'keywrap'), Buffer.from('ann'));
  assert.deepEqual(parseKeyProviderResponse(serializeKeyUnwrapResponse(opts), 'keyunwrap'), opts);
  assert.equal(serializeKeyWrapResponse(Buffer.from('ann')).toString(), `{"keywrapresults":{"annotation":"${b64('ann')}"},"keyunwrapresults":{"optsdata":null}}`);
  assert.throws(() => parseKeyProviderResponse(serializeKeyWrapResponse(Buffer.from('ann')), 'keyunwrap'), { code: 'ERR_OCICRYPT_FORMAT' });
});

test('malformed messages are refused with ERR_OCICRYPT_FORMAT', () => {
  for (const bad of ['', 'null', '[]', '{"op":"delete"}', '{"op":"keywrap","keywrapparams":{"optsdata":"!!"}}', '{"op":"keyunwrap","keyunwrapparams":{"annotation":3}}',
    `{"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":{"p":"notalist"}},"annotation":"YQ=="}}`, '\xff']) {
    assert.throws(() => parseKeyProviderRequest(Buffer.from(bad, 'latin1')), { code: 'ERR_OCICRYPT_FORMAT' }, bad);
  }
  assert.throws(() => parseKeyProviderRequest(Buffer.alloc((1 << 20) + 1, 0x20)), { code: 'ERR_OCICRYPT_FORMAT' });
});
