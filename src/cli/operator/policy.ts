/**
 * `ward policy set|ls|rm|explain`. A policy file is JSON (or TOML when it ends in .toml):
 * `{"name": "...", "description": "...", "sources": {...}, "rules": [...]}`; the `name` (or
 * --name) names the policy and the rest is the document the server validates (docs/api.md).
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, WardError } from '../../errors.ts';
import { identityFromCertificate } from '../../pki/identity.ts';
import { info, out } from '../ui.ts';
import { withClient, type ContextFlags } from '../context.ts';
import { formatTime, printJson, printTable } from './format.ts';
import { parseOperation, parsePolicyName, parseSecretPath } from './parse.ts';
import { usageError } from '../args.ts';

const MAX_POLICY_BYTES = 256 * 1024;

function readSmallFile(path: string, max: number, what: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new WardError('ERR_IO', `cannot open ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  try {
    if (fstatSync(fd).size > max) throw usageError(`${what} ${path} is larger than ${max} bytes`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Parses a policy file into its name and the document to store. Pure apart from TOML loading. */
export async function parsePolicyFile(text: string, path: string, nameFlag: string | undefined): Promise<{ name: string; document: Record<string, unknown> }> {
  let parsed: unknown;
  try {
    if (path.endsWith('.toml')) {
      const { parse } = await import('smol-toml');
      parsed = parse(text);
    } else {
      parsed = JSON.parse(text);
    }
  } catch (e) {
    const what = e instanceof Error ? e.message.split('\n')[0] : 'invalid';
    throw new WardError('ERR_USAGE', `${path}: not valid ${path.endsWith('.toml') ? 'TOML' : 'JSON'}: ${what}`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw usageError(`${path}: a policy is an object with "rules"`);
  const { name: fileName, ...document } = parsed as Record<string, unknown>;
  if (nameFlag !== undefined && fileName !== undefined && nameFlag !== fileName) {
    throw usageError(`--name ${nameFlag} differs from "name": ${JSON.stringify(fileName)} in ${path}`);
  }
  const name = parsePolicyName(nameFlag ?? fileName, path);
  return { name, document };
}

export async function setPolicy(file: string, opts: ContextFlags & { name?: string }): Promise<void> {
  const { name, document } = await parsePolicyFile(readSmallFile(file, MAX_POLICY_BYTES, 'policy file'), file, opts.name);
  await withClient(opts, ({ client }) => client.putPolicy(name, document));
  info(`policy ${name} saved`);
}

function documentOf(doc: unknown): { rules?: unknown[]; description?: string } {
  if (typeof doc === 'string') {
    try {
      return JSON.parse(doc) as { rules?: unknown[] };
    } catch {
      return {};
    }
  }
  return (doc ?? {}) as { rules?: unknown[] };
}

export async function listPolicies(opts: ContextFlags & { json?: boolean }): Promise<void> {
  const policies = await withClient(opts, ({ client }) => client.listPolicies());
  if (opts.json) {
    printJson(policies.map((p) => ({ ...p, document: documentOf(p.document) })));
    return;
  }
  printTable(
    ['NAME', 'RULES', 'UPDATED', 'BY', 'DESCRIPTION'],
    policies.map((p) => {
      const doc = documentOf(p.document);
      return [p.name, String(doc.rules?.length ?? 0), formatTime(p.updatedAt), p.updatedBy, doc.description ?? ''];
    }),
  );
}

export async function removePolicy(name: string, opts: ContextFlags): Promise<void> {
  parsePolicyName(name, 'NAME');
  await withClient(opts, ({ client }) => client.deletePolicy(name));
  info(`policy ${name} deleted`);
}

/** The SPIFFE ID of a certificate file, or of DIR/cert.pem for an identity directory. */
function spiffeIdOf(certPath: string): string {
  const file = statSync(certPath, { throwIfNoEntry: false })?.isDirectory() ? join(certPath, 'cert.pem') : certPath;
  return identityFromCertificate(readSmallFile(file, 64 * 1024, 'certificate')).spiffeId;
}

export interface ExplainOptions extends ContextFlags {
  cert?: string;
  spiffeId?: string;
  op?: string;
  source?: string;
  json?: boolean;
}

/** Says which rule decides; exits 0 when allowed and 4 (denied) when not, for scripts. */
export async function explain(pathText: string, opts: ExplainOptions): Promise<void> {
  parseSecretPath(pathText);
  if ((opts.cert === undefined) === (opts.spiffeId === undefined)) throw usageError('give exactly one of --cert FILE and --spiffe-id ID');
  const operation = parseOperation(opts.op ?? 'read');
  const spiffeId = opts.spiffeId ?? spiffeIdOf(opts.cert!);
  const r = await withClient(opts, ({ client }) => client.explain({ spiffeId, path: pathText, operation, ...(opts.source ? { source: opts.source } : {}) }));
  if (opts.json) printJson({ spiffeId, path: pathText, operation, ...r });
  else {
    out(`${r.decision}: ${operation} ${pathText} by ${spiffeId}`);
    out(`rule:   ${String(r.rule)}`);
    out(`reason: ${r.reason}`);
  }
  if (r.decision !== 'allow') process.exitCode = ExitCode.denied;
}
