/**
 * Image references, as skopeo writes them (containers/image transports):
 *
 *   oci:PATH[:TAG]                         an OCI image layout directory; TAG = org.opencontainers.image.ref.name
 *   docker-archive:PATH[:REF]              a `docker save` tarball; REF = repo:tag (or @N, the Nth image, as source)
 *   docker://HOST[:PORT]/REPO[:TAG|@DIGEST] an OCI distribution registry (docker.io when HOST is omitted)
 *
 * As in containers/image, PATH ends at the first `:` (paths with `:` are not supported).
 */
import { WardError } from '../errors.ts';

export type ImageReference =
  | { transport: 'oci'; path: string; tag: string | undefined }
  | { transport: 'docker-archive'; path: string; ref: string | undefined }
  | { transport: 'docker'; host: string; repo: string; tag: string | undefined; digest: string | undefined };

const DOCKER_HUB = 'docker.io';
const refError = (text: string, why: string) => new WardError('ERR_IMAGE_REFERENCE', `invalid image reference ${JSON.stringify(text)}: ${why}`, {
  hint: 'use oci:PATH[:TAG], docker-archive:PATH[:REPO:TAG] or docker://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]',
});

// distribution/reference grammar, simplified: path components of lowercase alphanumerics and separators.
const REPO = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function splitPath(text: string, rest: string): [string, string | undefined] {
  const i = rest.indexOf(':');
  const path = i < 0 ? rest : rest.slice(0, i);
  if (!path) throw refError(text, 'empty path');
  return [path, i < 0 ? undefined : rest.slice(i + 1)];
}

/** Parses `docker://` references after the scheme: `[HOST[:PORT]/]REPO[:TAG][@DIGEST]`. */
function parseDocker(text: string, rest: string): ImageReference {
  if (!rest.startsWith('//')) throw refError(text, 'docker references start with docker://');
  let name = rest.slice(2);
  let digest: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    if (!DIGEST.test(digest)) throw refError(text, 'digest must be sha256:<64 hex digits>');
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!TAG.test(tag)) throw refError(text, 'invalid tag');
  }
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  let host = DOCKER_HUB;
  let repo = name;
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    host = first;
    repo = name.slice(slash + 1);
  }
  if (host === DOCKER_HUB && !repo.includes('/')) repo = `library/${repo}`;
  if (!REPO.test(repo)) throw refError(text, 'invalid repository name');
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/.test(host)) throw refError(text, 'invalid registry host');
  if (!tag && !digest) tag = 'latest';
  return { transport: 'docker', host, repo, tag, digest };
}

export function parseImageReference(text: string): ImageReference {
  const i = text.indexOf(':');
  if (i < 0) throw refError(text, 'missing transport');
  const transport = text.slice(0, i);
  const rest = text.slice(i + 1);
  switch (transport) {
    case 'oci': {
      const [path, tag] = splitPath(text, rest);
      if (tag !== undefined && !/^[A-Za-z0-9_.:/@+-]+$/.test(tag)) throw refError(text, 'invalid tag');
      return { transport: 'oci', path, tag: tag || undefined };
    }
    case 'docker-archive': {
      const [path, ref] = splitPath(text, rest);
      return { transport: 'docker-archive', path, ref: ref || undefined };
    }
    case 'docker':
      return parseDocker(text, rest);
    default:
      throw refError(text, `unknown transport ${JSON.stringify(transport)}`);
  }
}

/** Human form for messages (never contains credentials: references have none). */
export function formatImageReference(r: ImageReference): string {
  switch (r.transport) {
    case 'oci':
      return `oci:${r.path}${r.tag ? `:${r.tag}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${r.path}${r.ref ? `:${r.ref}` : ''}`;
    case 'docker':
      return `docker://${r.host}/${r.repo}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
  }
}
