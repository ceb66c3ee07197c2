/**
 * Hand-written DER. First, the one extension @peculiar/x509 has no class for: X.509
 * NameConstraints (RFC 5280 §4.2.1.10). Ward's CA permits only URI names in its own trust domain, as the SPIFFE
 * X509-SVID standard recommends for signing certificates (§4.2); DNS and IP names stay
 * unconstrained so the server certificate can carry any host the operator chooses.
 *
 *   NameConstraints ::= SEQUENCE { permittedSubtrees [0] IMPLICIT GeneralSubtrees }
 *   GeneralSubtrees ::= SEQUENCE OF GeneralSubtree
 *   GeneralSubtree  ::= SEQUENCE { base GeneralName }      -- minimum DEFAULT 0, maximum absent
 *   GeneralName     ::= uniformResourceIdentifier [6] IMPLICIT IA5String   -- the host, per §4.2.1.10
 */

export const OID_NAME_CONSTRAINTS = '2.5.29.30';

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else if (n < 0x100) len = Buffer.from([0x81, n]);
  else if (n < 0x10000) len = Buffer.from([0x82, n >> 8, n & 0xff]);
  else throw new TypeError('tlv: content too long');
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

/** DER of a NameConstraints value permitting only URIs whose host is `host`. */
export function uriNameConstraints(host: string): Buffer {
  const base = tlv(0x86, Buffer.from(host, 'ascii'));
  const subtree = tlv(0x30, base);
  return tlv(0x30, tlv(0xa0, subtree));
}

/**
 * True when `der` is exactly one DER SEQUENCE (tag 0x30, definite minimal length) with no
 * trailing bytes; parsers further down ignore what follows the first element.
 */
export function isSingleDerSequence(der: Uint8Array): boolean {
  if (der.length < 2 || der[0] !== 0x30) return false;
  const first = der[1]!;
  if (first < 0x80) return 2 + first === der.length;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || der.length < 2 + n || der[2] === 0) return false;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + der[2 + i]!;
  if (len < 0x80) return false;
  return 2 + n + len === der.length;
}
