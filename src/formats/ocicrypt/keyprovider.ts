/**
 * ocicrypt's key-provider protocol messages (docs/keyprovider.md and
 * keywrap/keyprovider/keyprovider.go at c3436fd): one JSON request on the provider's stdin (or in
 * the gRPC `KeyProviderKeyWrapProtocolInput` bytes), one JSON response on its stdout.
 *
 *   request  {"op":"keywrap"|"keyunwrap",
 *             "keywrapparams":{"ec":{"Parameters":{NAME:[b64…]},"DecryptConfig":{"Parameters":…}}|null,"optsdata":b64|null},
 *             "keyunwrapparams":{"dc":{"Parameters":{NAME:[b64…]}}|null,"annotation":b64|null}}
 *   response {"keywrapresults":{"annotation":b64|null},"keyunwrapresults":{"optsdata":b64|null}}
 *
 * `Parameters` carries the `--encryption-key provider:NAME:ARGS` / `--decryption-key` arguments
 * per provider name; `optsdata` is the layer's private options; `annotation` is what the provider
 * stores in `org.opencontainers.image.enc.keys.provider.NAME` (before base64). Go marshals both
 * params structs and both results structs even when unused (`omitempty` does not apply to
 * structs), and `[]byte` as standard base64, so Ward writes the same and reads either.
 */
import { WardError } from '../../errors.ts';
import { decodeBase64 } from './blockcipher.ts';

export const KEY_PROVIDER_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.provider.';
/** Requests and responses above this are refused (they carry a few keys, never layer data). */
export const MAX_KEY_PROVIDER_MESSAGE = 1 << 20;

export type Parameters = Record<string, Buffer[]>;

export type KeyProviderRequest =
  | { op: 'keywrap'; parameters: Parameters; decryptParameters: Parameters; optsData: Buffer }
  | { op: 'keyunwrap'; parameters: Parameters; annotation: Buffer };

const formatError = (what: string) => new WardError('ERR_OCICRYPT_FORMAT', `invalid key-provider ${what}`);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function parseMessage(data: Buffer, what: string): Record<string, unknown> {
  if (data.length > MAX_KEY_PROVIDER_MESSAGE) throw formatError(`${what} (too large)`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    throw formatError(what);
  }
  if (!isObject(v)) throw formatError(what);
  return v;
}

const encodeParams = (p: Parameters | undefined) =>
  p === undefined ? null : Object.fromEntries(Object.keys(p).sort().map((k) => [k, p[k]!.map((b) => b.toString('base64'))]));

function decodeParams(v: unknown, what: string): Parameters {
  if (v === null || v === undefined) return {};
  if (!isObject(v)) throw formatError(what);
  return Object.fromEntries(Object.entries(v).map(([k, list]) => {
    if (list === null) return [k, []];
    if (!Array.isArray(list)) throw formatError(what);
    return [k, list.map((b) => decodeBase64(b, `key-provider ${what}`))];
  }));
}

function configParams(v: unknown, what: string): { params: Parameters; decrypt: Parameters } {
  if (v === null || v === undefined) return { params: {}, decrypt: {} };
  if (!isObject(v)) throw formatError(what);
  const dc = v.DecryptConfig;
  if (dc !== undefined && dc !== null && !isObject(dc)) throw formatError(what);
  return { params: decodeParams(v.Parameters, what), decrypt: decodeParams(isObject(dc) ? dc.Parameters : undefined, what) };
}

const b64OrNull = (b: Buffer | undefined) => (b === undefined ? null : b.toString('base64'));

/** The request ocicrypt sends a key provider, byte for byte as its Go code marshals it. */
export function serializeKeyProviderRequest(req: KeyProviderRequest): Buffer {
  const wrap = req.op === 'keywrap'
    ? { ec: { Parameters: encodeParams(req.parameters), DecryptConfig: { Parameters: encodeParams(req.decryptParameters) } }, optsdata: b64OrNull(req.optsData) }
    : { ec: null, optsdata: null };
  const unwrap = req.op === 'keyunwrap'
    ? { dc: { Parameters: encodeParams(req.parameters) }, annotation: b64OrNull(req.annotation) }
    : { dc: null, annotation: null };
  return Buffer.from(JSON.stringify({ op: req.op, keywrapparams: wrap, keyunwrapparams: unwrap }));
}

/** Parses what a key provider reads on stdin. @throws ERR_OCICRYPT_FORMAT */
export function parseKeyProviderRequest(data: Buffer): KeyProviderRequest {
  const m = parseMessage(data, 'request');
  const wrap = m.keywrapparams ?? {};
  const unwrap = m.keyunwrapparams ?? {};
  if (!isObject(wrap) || !isObject(unwrap)) throw formatError('request');
  if (m.op === 'keywrap') {
    if (typeof wrap.optsdata !== 'string') throw formatError('keywrap request without optsdata');
    const { params, decrypt } = configParams(wrap.ec, 'keywrap parameters');
    return { op: 'keywrap', parameters: params, decryptParameters: decrypt, optsData: decodeBase64(wrap.optsdata, 'key-provider optsdata') };
  }
  if (m.op === 'keyunwrap') {
    if (typeof unwrap.annotation !== 'string') throw formatError('keyunwrap request without annotation');
    const dc = unwrap.dc;
    if (dc !== null && dc !== undefined && !isObject(dc)) throw formatError('keyunwrap parameters');
    return { op: 'keyunwrap', parameters: decodeParams(isObject(dc) ? dc.Parameters : undefined, 'keyunwrap parameters'), annotation: decodeBase64(unwrap.annotation, 'key-provider annotation') };
  }
  throw formatError(`operation ${JSON.stringify(m.op)}`);
}

/** A provider's answer to `keywrap`: the bytes to store in its annotation. */
export function serializeKeyWrapResponse(annotation: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ keywrapresults: { annotation: annotation.toString('base64') }, keyunwrapresults: { optsdata: null } }));
}

/** A provider's answer to `keyunwrap`: the layer's private options. */
export function serializeKeyUnwrapResponse(optsData: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ keywrapresults: { annotation: null }, keyunwrapresults: { optsdata: optsData.toString('base64') } }));
}

/** Reads a provider's response to `op`. @throws ERR_OCICRYPT_FORMAT when the field is missing */
export function parseKeyProviderResponse(data: Buffer, op: KeyProviderRequest['op']): Buffer {
  const m = parseMessage(data, 'response');
  const results = op === 'keywrap' ? m.keywrapresults : m.keyunwrapresults;
  const field = op === 'keywrap' ? 'annotation' : 'optsdata';
  const value = isObject(results) ? results[field] : undefined;
  if (typeof value !== 'string' || !value) throw formatError(`${op} response without ${field}`);
  return decodeBase64(value, `key-provider ${field}`);
}
