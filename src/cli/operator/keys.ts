/**
 * `ward operator seal|unseal|status` and `ward key ls|rotate|destroy` over the admin connection
 * (routes: src/server/routes/keys.ts, docs/api.md). Rotation is driven from here in batches so the
 * operator sees progress; the server keeps serving meanwhile.
 */
import { readFileSync } from 'node:fs';
import { ExitCode, WardError } from '../../errors.ts';
import type { WardAdminClient } from '../../client/admin.ts';
import { usageError } from '../args.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { passphraseFromOptions, promptPassphrase } from '../passphrase.ts';
import { info, out, warn } from '../ui.ts';
import { formatTime, printJson, printTable } from './format.ts';
import { parseScope } from './parse.ts';
import type { RewrapResult } from '../../server/routes/keys.ts';

interface SealStatus {
  sealed: boolean;
  provider: string;
  have: number;
  need: number;
}

interface KeyScope {
  app: string;
  env: string;
  versions: { version: number; masterKeyId: string; createdAt: number; destroyed: boolean; dataKeys: number }[];
  masterWrapped: number;
}

const seg = encodeURIComponent;
const SHARE = /ward-share-v1-\S+/i;

function describe(s: SealStatus): string {
  if (!s.sealed) return `unsealed (provider ${s.provider})`;
  return s.provider === 'shamir' ? `sealed (provider shamir, unseal progress: ${s.have} of ${s.need} shares)` : `sealed (provider ${s.provider})`;
}

const getStatus = (client: WardAdminClient) => client.http.request<SealStatus>('GET', '/v1/sys/status');

export async function status(opts: ContextFlags & { json?: boolean }): Promise<void> {
  const s = await withClient(opts, ({ client }) => getStatus(client));
  if (opts.json) printJson(s);
  else out(describe(s));
  if (s.sealed) process.exitCode = ExitCode.sealed;
}

export async function seal(opts: ContextFlags): Promise<void> {
  const s = await withClient(opts, ({ client }) => client.http.request<SealStatus>('POST', '/v1/sys/seal', { body: {} }));
  info(`the server is ${describe(s)}: it serves nothing but the unseal and status routes until unsealed`);
}

/** The passphrase or share: from --share-file, --passphrase-file/-fd, else the terminal. */
async function readSecret(opts: { passphraseFile?: string; passphraseFd?: string; shareFile?: string }, provider: string): Promise<Buffer> {
  const given = [opts.passphraseFile, opts.passphraseFd, opts.shareFile].filter((x) => x !== undefined).length;
  if (given > 1) throw usageError('give one of --passphrase-file, --passphrase-fd, --share-file');
  let secret = passphraseFromOptions({
    ...(opts.shareFile === undefined ? {} : { passphraseFile: opts.shareFile }),
    ...(opts.passphraseFile === undefined ? {} : { passphraseFile: opts.passphraseFile }),
    ...(opts.passphraseFd === undefined ? {} : { passphraseFd: opts.passphraseFd }),
  });
  secret ??= await promptPassphrase(provider === 'shamir' ? 'unseal share (input hidden):' : 'passphrase (input hidden):');
  if (provider === 'shamir') {
    // accept a line as ward init printed it: "share 2 of 5 (any 3 unseal): ward-share-v1-..."
    const text = secret.toString('latin1');
    const share = SHARE.exec(text)?.[0];
    secret.fill(0);
    if (share === undefined) throw new WardError('ERR_SHAMIR_SHARE_INVALID', 'that is not an unseal share (expected ward-share-v1-...)');
    secret = Buffer.from(share);
  }
  return secret;
}

export async function unseal(opts: ContextFlags & { passphraseFile?: string; passphraseFd?: string; shareFile?: string }): Promise<void> {
  const s = await withClient(opts, async ({ client }) => {
    const before = await getStatus(client);
    if (!before.sealed) return before;
    // file and pkcs11 reach their key again by themselves (the key file, a new token login)
    if (before.provider !== 'passphrase' && before.provider !== 'shamir') return client.http.request<SealStatus>('POST', '/v1/sys/unseal', { body: {} });
    const secret = await readSecret(opts, before.provider);
    const b64 = secret.toString('base64');
    secret.fill(0);
    return client.http.request<SealStatus>('POST', '/v1/sys/unseal', { body: { secret: b64 } });
  });
  info(s.sealed ? `unseal progress: ${s.have} of ${s.need} shares; the server stays sealed until ${s.need} are in` : 'the server is unsealed');
  if (s.sealed) process.exitCode = ExitCode.sealed;
}

/** `ward key new-master FILE`: a new `file` master key, for a master key rotation (docs/keys.md). */
export async function newMaster(file: string): Promise<void> {
  const { createFileKey, keyIdFor } = await import('../../keys/file.ts');
  createFileKey(file);
  const key = readFileSync(file);
  const id = keyIdFor('file', key);
  key.fill(0);
  info(`created master key ${file} (${id}), mode 0600`);
  info('next: in ward.toml [keys] set path to it and previous = ["<the old key file>"], restart each server, run ward key rotate, check ward key ls');
  out(id);
}

export async function listKeys(opts: ContextFlags & { json?: boolean }): Promise<void> {
  const { scopes } = await withClient(opts, ({ client }) => client.http.request<{ scopes: KeyScope[] }>('GET', '/v1/keys'));
  if (opts.json) return printJson(scopes);
  const rows: string[][] = [];
  for (const sc of scopes) {
    for (const v of sc.versions) rows.push([`${sc.app}/${sc.env}`, `kek${v.version}`, v.destroyed ? 'destroyed' : 'live', String(v.dataKeys), v.masterKeyId, formatTime(v.createdAt)]);
    if (sc.masterWrapped > 0) rows.push([`${sc.app}/${sc.env}`, 'master', 'live', String(sc.masterWrapped), '-', '-']);
  }
  // MASTER: which master key wraps the KEK, so a master key rotation can be seen through
  printTable(['SCOPE', 'KEY', 'STATE', 'DATA KEYS', 'MASTER', 'CREATED'], rows);
}

function scopeFlags(opts: { app?: string; env?: string }, required: boolean): { app: string; env: string } | undefined {
  if (opts.app === undefined && opts.env === undefined && !required) return undefined;
  if (opts.app === undefined || opts.env === undefined) throw usageError('--app and --env go together');
  const scope = parseScope(`${opts.app}/${opts.env}`);
  return { app: scope.app!, env: scope.env! };
}

/** A progress line on a terminal, nothing when stderr is piped. */
function progress(): { show(text: string): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  return {
    show(text) {
      if (!tty) return;
      process.stderr.write(`\r\x1b[2Kward: ${text}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}

export async function rotate(opts: ContextFlags & { app?: string; env?: string; batch: string }): Promise<void> {
  const only = scopeFlags(opts, false);
  if (!/^[1-9][0-9]{0,3}$/.test(opts.batch) || Number(opts.batch) > 1000) throw usageError('--batch must be 1..1000');
  const limit = Number(opts.batch);
  await withClient(opts, async ({ client }) => {
    const scopes = only ? [only] : (await client.http.request<{ scopes: KeyScope[] }>('GET', '/v1/keys')).scopes.map(({ app, env }) => ({ app, env }));
    if (scopes.length === 0) info('no application has keys yet: nothing to rotate');
    let failures = 0;
    for (const { app, env } of scopes) {
      const base = `/v1/keys/${seg(app)}/${seg(env)}`;
      const bar = progress();
      try {
        const { version } = await client.http.request<{ version: number }>('POST', `${base}/rotate`, { body: {} });
        let moved = 0;
        let last: RewrapResult;
        for (;;) {
          last = await client.http.request<RewrapResult>('POST', `${base}/rewrap`, { body: { limit } });
          moved += last.rewrapped;
          bar.show(`${app}/${env}: re-wrapped ${moved} of ${moved + last.remaining} data keys`);
          if (last.remaining === 0) break;
          if (last.rewrapped === 0) throw new WardError('ERR_API_CONFLICT', `${app}/${env}: no progress re-wrapping (${last.remaining} left)`, { hint: 'run ward key rotate again' });
        }
        bar.done();
        const parts = [`${app}/${env}: kek${version}`, `${moved} data keys re-wrapped`];
        if (last.destroyed.length > 0) parts.push(`destroyed ${last.destroyed.map((v) => `kek${v}`).join(', ')}`);
        if (last.kept.length > 0) parts.push(`kept ${last.kept.map((v) => `kek${v}`).join(', ')} until replicas use kek${version} (run again in a minute)`);
        info(parts.join('; '));
        if (last.unreadable > 0) warn(`${app}/${env}: ${last.unreadable} data keys belong to destroyed keys and stay unreadable`);
      } catch (e) {
        bar.done();
        if (only) throw e;
        failures++;
        warn(`${app}/${env}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (failures > 0) throw new WardError('ERR_INTERNAL', `rotation failed for ${failures} of ${scopes.length} scopes`, { hint: 'see the warnings above; run ward key rotate --app A --env E for each' });
  });
}

export async function destroyKeys(opts: ContextFlags & { app: string; env: string; yesDestroyAllSecrets?: boolean }): Promise<void> {
  const scope = scopeFlags(opts, true)!;
  if (!opts.yesDestroyAllSecrets) {
    throw usageError(`this makes every secret of ${scope.app}/${scope.env} unreadable for good`, 'add --yes-destroy-all-secrets if that is what you want');
  }
  const r = await withClient(opts, ({ client }) =>
    client.http.request<{ destroyed: number; dataKeys: number }>('POST', `/v1/keys/${seg(scope.app)}/${seg(scope.env)}/destroy`, { body: { confirm: `${scope.app}/${scope.env}` } }));
  info(`${scope.app}/${scope.env}: destroyed ${r.destroyed} key versions; ${r.dataKeys} data keys are now unreadable`);
}

/**
 * The secrets `ward server --unseal-file F | --unseal-fd N` submits at start: the passphrase (first
 * line), or every share found in the file (one per line, as ward init printed or wrote them).
 */
export function unsealSecretsFrom(source: { file?: string; fd?: string }, provider: string): Buffer[] {
  if (provider !== 'passphrase' && provider !== 'shamir') throw usageError(`--unseal-file and --unseal-fd apply to the passphrase and shamir key providers, not ${provider}`);
  const flags = { ...(source.file === undefined ? {} : { passphraseFile: source.file }), ...(source.fd === undefined ? {} : { passphraseFd: source.fd }) };
  if (provider === 'passphrase') {
    const p = passphraseFromOptions(flags);
    return p ? [p] : [];
  }
  let bytes: Buffer;
  const from = source.file ?? `fd ${source.fd}`;
  try {
    bytes = readFileSync(source.file ?? Number(source.fd));
  } catch (e) {
    throw new WardError('ERR_IO', `cannot read the unseal shares from ${from}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const shares = [...bytes.toString('latin1').matchAll(new RegExp(SHARE.source, 'gi'))].map((m) => Buffer.from(m[0]));
  bytes.fill(0);
  if (shares.length === 0) throw new WardError('ERR_SHAMIR_SHARE_INVALID', `${from} holds no unseal share`);
  return shares;
}
