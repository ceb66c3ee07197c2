/**
 * Ward's typed errors.
 *
 * Every failure Ward reports on purpose is a {@link WardError} with a stable `code`
 * (`ERR_<AREA>_<REASON>`). The code decides the CLI exit code and the HTTP status through the one
 * table below, so a script, a client and the server agree on what went wrong. Messages are
 * lowercase, without a trailing period, never contain a secret, and say what failed; a `hint`
 * says what to do next. Misuse of an API by a programmer throws `TypeError`, not `WardError`.
 *
 * docs/errors.md lists every code; test/errors.test.ts fails when the two disagree.
 */

/** Process exit codes, documented in docs/errors.md. `ward run` passes the child's own code through. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  decrypt: 3,
  denied: 4,
  unavailable: 5,
  notFound: 6,
  conflict: 7,
  config: 8,
  io: 9,
  sealed: 10,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

type Kind = { exit: ExitCode; status: number };
const usage: Kind = { exit: ExitCode.usage, status: 400 };
const decrypt: Kind = { exit: ExitCode.decrypt, status: 400 };
const denied: Kind = { exit: ExitCode.denied, status: 403 };
const unauth: Kind = { exit: ExitCode.denied, status: 401 };
const unavailable: Kind = { exit: ExitCode.unavailable, status: 503 };
const notFound: Kind = { exit: ExitCode.notFound, status: 404 };
const conflict: Kind = { exit: ExitCode.conflict, status: 409 };
const config: Kind = { exit: ExitCode.config, status: 500 };
const io: Kind = { exit: ExitCode.io, status: 500 };
const internal: Kind = { exit: ExitCode.failure, status: 500 };
const sealed: Kind = { exit: ExitCode.sealed, status: 503 };
const tooLarge: Kind = { exit: ExitCode.usage, status: 413 };

/**
 * The registry of error codes. Add a code here (and to docs/errors.md) before throwing it.
 * Grouped by area; keep each group sorted.
 */
export const ERROR_CODES = {
  // general / CLI
  ERR_USAGE: usage,
  ERR_INTERNAL: internal,
  ERR_IO: io,
  ERR_CONFIG: config,
  ERR_EXISTS: conflict,
  ERR_PASSPHRASE: usage,
  ERR_TEMPLATE: usage,

  // envelope crypto and key providers
  ERR_CRYPTO_AUTH: decrypt,
  ERR_CRYPTO_FORMAT: decrypt,
  ERR_KEY_INSECURE_PERMISSIONS: config,
  ERR_KEY_INVALID: config,
  ERR_KEY_NOT_FOUND: config,
  ERR_KEY_DESTROYED: notFound,
  ERR_KEY_SEALED: sealed,
  ERR_KEY_WRONG_PASSPHRASE: decrypt,
  ERR_SECURESTORE_AUTH: decrypt,
  ERR_SECURESTORE_FORMAT: decrypt,
  // Shamir unseal shares and PKCS#11 tokens (src/keys)
  ERR_SHAMIR_COMBINE_FAILED: decrypt,
  ERR_SHAMIR_SHARE_DUPLICATE: conflict,
  ERR_SHAMIR_SHARE_INVALID: usage,
  ERR_SHAMIR_SHARE_MISMATCH: decrypt,
  ERR_PKCS11_KEY_NOT_FOUND: config,
  ERR_PKCS11_LOGIN: denied,
  ERR_PKCS11_MODULE: config,
  ERR_PKCS11_OPERATION: internal,
  ERR_PKCS11_TOKEN_NOT_FOUND: config,

  // age format (CCTV taxonomy: header, armor, hmac, payload, no match)
  ERR_AGE_ARMOR: decrypt,
  ERR_AGE_HEADER: decrypt,
  ERR_AGE_HMAC_MISMATCH: decrypt,
  ERR_AGE_NO_IDENTITY_MATCH: decrypt,
  ERR_AGE_PAYLOAD: decrypt,
  ERR_AGE_RECIPIENT: usage,
  ERR_AGE_IDENTITY: usage,
  ERR_AGE_SCRYPT_WORK_FACTOR: decrypt,

  // PKI: certificates, CSRs, SPIFFE identities
  ERR_PKI_INVALID_CERT: usage,
  ERR_PKI_INVALID_CSR: usage,
  ERR_PKI_INVALID_SPIFFE_ID: usage,
  ERR_PKI_TOO_LARGE: tooLarge,
  ERR_PKI_UNTRUSTED: denied,

  // workload enrolment and renewal (docs/enrol.md)
  ERR_ENROLL_CA_MISMATCH: denied,
  ERR_ENROLL_DISABLED: unavailable,
  ERR_ENROLL_RENEW_REFUSED: denied,
  ERR_TOKEN_INVALID: unauth,
  ERR_TOKEN_MISSING: usage,

  // ward run
  ERR_RUN_DISK: usage,
  ERR_RUN_MISSING: notFound,
  ERR_RUN_VALUE: usage,

  // zero-knowledge sealed secrets (ward recipients, ward seal, ward run --identity FILE)
  ERR_SEALED_NO_IDENTITY: decrypt,
  ERR_SEALED_NO_RECIPIENTS: notFound,
  ERR_SEALED_RECIPIENTS_MIXED: usage,

  // HTTP API (server side and as seen by clients)
  ERR_API_BAD_REQUEST: usage,
  ERR_API_TOO_LARGE: tooLarge,
  ERR_API_UNAUTHENTICATED: unauth,
  ERR_API_DENIED: denied,
  ERR_API_NOT_FOUND: notFound,
  ERR_API_CONFLICT: conflict,
  ERR_API_UNAVAILABLE: unavailable,
  ERR_API_RATE_LIMITED: { exit: ExitCode.unavailable, status: 429 },
  ERR_API_BAD_RESPONSE: { exit: ExitCode.unavailable, status: 502 },
  // the audit hash chain failed `ward audit verify`: records altered, removed or reordered
  ERR_AUDIT_CHAIN_BROKEN: { exit: ExitCode.decrypt, status: 500 },

  // TLS as seen by clients: the server's certificate, or ours, was refused
  ERR_TLS_CLIENT_REJECTED: unauth,
  ERR_TLS_HANDSHAKE: { exit: ExitCode.unavailable, status: 502 },
  ERR_TLS_SERVER_UNTRUSTED: { exit: ExitCode.unavailable, status: 502 },

  // storage (src/store)
  ERR_STORE_COPY_MISMATCH: io,
  ERR_STORE_CORRUPT: io,
  ERR_STORE_NOT_EMPTY: conflict,
  ERR_STORE_SCHEMA_TOO_NEW: config,
  ERR_STORE_UNAVAILABLE: unavailable,

  // encrypted container images (src/image) and the ocicrypt format (src/formats/ocicrypt)
  ERR_IMAGE_AUTH: denied,
  ERR_IMAGE_DIGEST_MISMATCH: io,
  ERR_IMAGE_FORMAT: io,
  ERR_IMAGE_INSECURE: usage,
  ERR_IMAGE_NOT_FOUND: notFound,
  ERR_IMAGE_PLATFORM: notFound,
  ERR_IMAGE_REFERENCE: usage,
  ERR_IMAGE_REGISTRY: unavailable,
  ERR_IMAGE_TRUNCATED: io,
  ERR_IMAGE_UNSUPPORTED: usage,
  ERR_OCICRYPT_FORMAT: decrypt,
  ERR_OCICRYPT_HMAC_MISMATCH: decrypt,
  ERR_OCICRYPT_KEY: usage,
  ERR_OCICRYPT_NO_KEY: decrypt,
  ERR_OCICRYPT_UNSUPPORTED: decrypt,

  // rclone crypt folders (src/formats/rclone, ward dir)
  ERR_RCLONE_BLOCK: decrypt,
  ERR_RCLONE_HEADER: decrypt,
  ERR_RCLONE_NAME: decrypt,
  ERR_RCLONE_OBSCURED: usage,
  ERR_RCLONE_TRUNCATED: decrypt,
  ERR_RCLONE_WRONG_PASSWORD: decrypt,

  // OpenPGP recipients (src/formats/pgp, ward encrypt/decrypt with pgp:)
  ERR_PGP_KEY: usage,
  ERR_PGP_MESSAGE: decrypt,
  ERR_PGP_NO_KEY: decrypt,
  ERR_PGP_PASSPHRASE: decrypt,

  // per-value encrypted .env/TOML/YAML/JSON files (src/formats/valuefile, ward env/config)
  ERR_VALUEFILE_AUTH: decrypt,
  ERR_VALUEFILE_FORMAT: decrypt,
  ERR_VALUEFILE_MAC: decrypt,
  ERR_VALUEFILE_SYNTAX: usage,
} as const satisfies Record<string, Kind>;

export type WardErrorCode = keyof typeof ERROR_CODES;

export interface WardErrorOptions {
  /** What the user should do next; printed as `ward: hint: …`. */
  hint?: string;
  cause?: unknown;
}

export class WardError extends Error {
  override name = 'WardError';
  readonly code: WardErrorCode;
  readonly hint: string | undefined;

  constructor(code: WardErrorCode, message: string, options: WardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): ExitCode {
    return ERROR_CODES[this.code].exit;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isWardError(e: unknown): e is WardError {
  return e instanceof WardError;
}
