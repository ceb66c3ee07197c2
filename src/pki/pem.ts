/**
 * PEM (RFC 7468) reading and writing, strict and bounded, plus certificate fingerprints.
 *
 *   block = "-----BEGIN " label "-----" eol base64-lines "-----END " label "-----" eol?
 *
 * Accepts LF or CRLF line ends and surrounding whitespace; refuses explanatory text between
 * blocks, headers, non-canonical base64, and inputs above the caller's byte bound.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { WardError, type WardErrorCode } from '../errors.ts';
import { isSingleDerSequence } from './der.ts';

/** Upper bound on one PEM certificate or CSR Ward accepts from outside (64 KiB). */
export const MAX_PEM_BYTES = 64 * 1024;

/** Upper bound on a PEM CSR (a P-256 CSR with one URI SAN is well under 1 KiB). */
export const MAX_CSR_BYTES = 8 * 1024;

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

export interface PemBlock {
  label: string;
  der: Buffer;
}

/**
 * Splits PEM text into blocks.
 * @throws WardError `code` (the caller's area) when malformed; ERR_PKI_TOO_LARGE above `maxBytes`
 */
export function decodePem(text: string | Buffer, code: WardErrorCode, maxBytes = MAX_PEM_BYTES): PemBlock[] {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (size > maxBytes) throw new WardError('ERR_PKI_TOO_LARGE', `PEM input of ${size} bytes exceeds the ${maxBytes}-byte limit`);
  const s = typeof text === 'string' ? text : text.toString('latin1');
  const blocks: PemBlock[] = [];
  let last = 0;
  for (const m of s.matchAll(BLOCK)) {
    if (s.slice(last, m.index).trim() !== '') throw new WardError(code, 'unexpected text around PEM block');
    const b64 = m[2]!.replace(/\r?\n/g, '');
    const der = Buffer.from(b64, 'base64');
    if (der.length === 0 || der.toString('base64') !== b64) throw new WardError(code, `invalid base64 in PEM ${m[1]!.toLowerCase()}`);
    blocks.push({ label: m[1]!, der });
    last = m.index + m[0].length;
  }
  if (blocks.length === 0) throw new WardError(code, 'no PEM block found');
  if (s.slice(last).trim() !== '') throw new WardError(code, 'unexpected text after PEM block');
  return blocks;
}

/**
 * Decodes exactly one PEM block with the given label.
 * @throws WardError `code` when there is not exactly one such block
 */
export function decodeOnePem(text: string | Buffer, label: string, code: WardErrorCode, maxBytes = MAX_PEM_BYTES): Buffer {
  const blocks = decodePem(text, code, maxBytes);
  if (blocks.length !== 1 || blocks[0]!.label !== label) {
    throw new WardError(code, `expected exactly one PEM ${label.toLowerCase()}`);
  }
  return blocks[0]!.der;
}

/** Encodes DER as PEM with 64-column lines and a final newline. */
export function encodePem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/**
 * Parses one PEM or DER certificate with node:crypto.
 * @throws WardError ERR_PKI_INVALID_CERT, ERR_PKI_TOO_LARGE
 */
export function parseCertificate(cert: string | Buffer | X509Certificate): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  let der: Buffer;
  if (typeof cert === 'string' || cert.subarray(0, 11).toString('latin1') === '-----BEGIN ') {
    der = decodeOnePem(cert, 'CERTIFICATE', 'ERR_PKI_INVALID_CERT');
  } else {
    if (cert.length > MAX_PEM_BYTES) throw new WardError('ERR_PKI_TOO_LARGE', `certificate of ${cert.length} bytes exceeds the ${MAX_PEM_BYTES}-byte limit`);
    der = cert;
  }
  if (!isSingleDerSequence(der)) throw new WardError('ERR_PKI_INVALID_CERT', 'malformed certificate');
  try {
    return new X509Certificate(der);
  } catch (e) {
    throw new WardError('ERR_PKI_INVALID_CERT', 'malformed certificate', { cause: e });
  }
}

/** `sha256:<lowercase hex>` of a certificate's DER; the form `--ca-fingerprint` takes. */
export function fingerprint(cert: string | Buffer | X509Certificate): string {
  return `sha256:${createHash('sha256').update(parseCertificate(cert).raw).digest('hex')}`;
}

/**
 * Normalises a fingerprint typed by a user: `sha256:` prefix optional, colons and case ignored.
 * @throws WardError ERR_USAGE when it is not 32 bytes of hex
 */
export function normaliseFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new WardError('ERR_USAGE', 'invalid certificate fingerprint', { hint: 'use the form sha256:<64 hex digits> printed by ward init' });
  }
  return `sha256:${hex}`;
}

/**
 * Normalises a serial number to the form node:tls reports (`serialNumber`), lowercased:
 * hex, two digits per byte, leading zero bytes dropped. Accepts colons and any case.
 * @throws WardError ERR_USAGE when it is not hex
 */
export function normaliseSerial(text: string): string {
  let hex = text.trim().replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{1,80}$/.test(hex)) throw new WardError('ERR_USAGE', `invalid serial number ${JSON.stringify(text.slice(0, 100))}`);
  if (hex.length % 2) hex = `0${hex}`;
  hex = hex.replace(/^(00)+/, '');
  return hex === '' ? '0' : hex;
}
