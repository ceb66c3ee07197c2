/**
 * A private staging directory for file destinations: blobs are streamed into it (mode 0700, on
 * the destination's file system so the final move is a rename) and only moved into place by the
 * commit, so a failed copy leaves no blob, and in particular no decrypted layer, behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Digester, through, writeFileChunks } from './transport.ts';
import type { BlobWritten, Chunks } from './transport.ts';

export class Staging {
  readonly dir: string;
  readonly blobs = new Map<string, { path: string; size: number }>();
  #n = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates `.ward-staging-*` inside `parent`. */
  static async create(parent: string): Promise<Staging> {
    return new Staging(await mkdtemp(join(parent, '.ward-staging-')));
  }

  async put(data: Chunks, known?: BlobWritten): Promise<BlobWritten> {
    const path = join(this.dir, `blob-${this.#n++}`);
    const digest = new Digester(known, 'blob');
    await writeFileChunks(path, through(data, digest));
    this.blobs.set(digest.digest, { path, size: digest.size });
    return { digest: digest.digest, size: digest.size };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
