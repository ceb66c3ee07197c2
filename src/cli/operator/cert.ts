/**
 * `ward cert issue|ls|revoke`. Issuing keeps the private key here: a fresh ECDSA P-256 key is
 * generated locally, only a CSR goes to the server, and the identity directory (key.pem 0600,
 * cert.pem, ca.pem; directory 0700) is written next to the operator.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WardError } from '../../errors.ts';
import { createCsr } from '../../pki/csr.ts';
import { IDENTITY_FILES, writeIdentityDir } from '../../pki/identity-dir.ts';
import { generateKeyPair } from '../../pki/keys.ts';
import { formatSpiffeId } from '../../pki/spiffe.ts';
import { describeIdentity } from '../../client/identity.ts';
import type { CertificateRecord } from '../../client/admin.ts';
import { info } from '../ui.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { formatTime, printJson, printTable } from './format.ts';
import { parseCertName, parseRole, parseTtl } from './parse.ts';
import { usageError } from '../args.ts';

export interface IssueOptions extends ContextFlags {
  app?: string;
  env?: string;
  role?: string;
  ttl?: string;
  out?: string;
  json?: boolean;
}

export async function issueCert(nameText: string, opts: IssueOptions): Promise<void> {
  const name = parseCertName(nameText);
  const role = parseRole(opts.role ?? 'client');
  const ttl = opts.ttl === undefined ? undefined : parseTtl(opts.ttl);
  if (role === 'workload' && (opts.app === undefined || opts.env === undefined)) {
    throw usageError('a client certificate needs --app and --env', 'e.g. ward cert issue web-1 --app shop --env prod');
  }
  if (role === 'admin' && (opts.app !== undefined || opts.env !== undefined)) {
    throw usageError('an admin certificate is not tied to an app: leave out --app and --env');
  }
  const out = resolve(opts.out ?? name);
  for (const f of [IDENTITY_FILES.key, IDENTITY_FILES.cert]) {
    if (existsSync(join(out, f))) {
      throw new WardError('ERR_EXISTS', `${join(out, f)} already exists`, { hint: 'choose another --out directory, or revoke and remove the old identity first' });
    }
  }
  const issued = await withClient(opts, async ({ client, identity }) => {
    const { trustDomain } = describeIdentity(identity);
    const spiffeId = role === 'admin'
      ? formatSpiffeId({ trustDomain, kind: 'admin', name })
      : formatSpiffeId({ trustDomain, kind: 'workload', app: opts.app!, env: opts.env!, instance: name });
    const keys = generateKeyPair();
    const csr = await createCsr({ privateKeyPem: keys.privateKeyPem, spiffeId });
    const r = await client.issueCertificate({
      name,
      role,
      csr,
      ...(role === 'workload' ? { app: opts.app!, env: opts.env! } : {}),
      ...(ttl === undefined ? {} : { ttl }),
    });
    writeIdentityDir(out, { keyPem: keys.privateKeyPem, certPem: r.certificate, caPem: r.ca });
    return r;
  });
  if (opts.json) printJson({ dir: out, spiffeId: issued.spiffeId, serial: issued.serial, notAfter: formatTime(issued.notAfter) });
  else info(`issued ${issued.spiffeId} (serial ${issued.serial}, expires ${formatTime(issued.notAfter)}) into ${out}`);
}

function status(c: CertificateRecord, now: number): string {
  if (c.revokedAt != null) return `revoked ${formatTime(c.revokedAt)}`;
  return new Date(c.notAfter).getTime() < now ? 'expired' : 'valid';
}

export async function listCerts(opts: ContextFlags & { json?: boolean }): Promise<void> {
  const certs = await withClient(opts, async ({ client }) => {
    const all = [];
    for await (const c of client.listCertificates({ limit: 1000 })) all.push(c);
    return all;
  });
  if (opts.json) {
    printJson(certs);
    return;
  }
  const now = Date.now();
  printTable(
    ['NAME', 'ROLE', 'SPIFFE ID', 'SERIAL', 'EXPIRES', 'STATUS'],
    certs.map((c) => [c.name, c.role, c.spiffeId || '-', c.serial, formatTime(c.notAfter), status(c, now)]),
  );
}

export async function revokeCert(ref: string, opts: ContextFlags & { json?: boolean }): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(ref)) throw usageError(`invalid certificate name or serial ${JSON.stringify(ref.slice(0, 140))}`);
  const revoked = await withClient(opts, ({ client }) => client.revokeCertificate(ref));
  if (opts.json) printJson(revoked);
  else info(`revoked ${revoked.name} (${revoked.spiffeId || revoked.role}, serial ${revoked.serial})`);
}
