/**
 * A second thread for the block crypto of `ward dir`, so both cores of a small machine encrypt:
 * the main thread seals or opens the batches of some files itself and hands the others' batches
 * here. Buffers live in SharedArrayBuffers (nothing is copied); only the 24-byte nonce travels
 * both ways. The thread holds a copy of the data key, zeroed on close.
 *
 * The worker's source is the small bootstrap below: it turns on Node's compile cache before
 * importing this module, so the thread does not load the TypeScript stripper again (~30 MiB).
 */
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { WardError, isWardError, type WardErrorCode } from '../errors.ts';
import { openBlocks, sealChunks } from '../formats/rclone/index.ts';

interface Request {
  id: number;
  op: 'seal' | 'open';
  nonce: Uint8Array;
  input: Uint8Array;
  output: Uint8Array;
  /** seal: where in `output` to start; open: the index of the first block. */
  at: number;
}

type Message = { op: 'init'; key: Uint8Array } | { op: 'close' } | Request;

type Reply = { id: number; len: number; nonce: Uint8Array } | { id: number; error: { code?: WardErrorCode; message: string } };

/** Runs in the worker: answers seal and open requests in order. */
function serve(): void {
  const port = parentPort!;
  let key = Buffer.alloc(0);
  port.on('message', (m: Message) => {
    if (m.op === 'init') {
      key = Buffer.from(m.key);
      return;
    }
    if (m.op === 'close') {
      key.fill(0);
      port.close();
      return;
    }
    const nonce = Buffer.from(m.nonce);
    try {
      const len = m.op === 'seal' ? sealChunks(key, nonce, m.input, m.output, m.at) : openBlocks(key, nonce, m.input, m.output, m.at);
      port.postMessage({ id: m.id, len, nonce } satisfies Reply);
    } catch (e) {
      const error = isWardError(e) ? { code: e.code, message: e.message } : { message: String(e) };
      port.postMessage({ id: m.id, error } satisfies Reply);
    }
  });
}

const MARK = 'ward-crypto-thread';
if (workerData === MARK && parentPort !== null) serve();

const BOOTSTRAP = `require('node:module').enableCompileCache?.();
import(${JSON.stringify(import.meta.url)}).catch((e) => { console.error(e); process.exit(1); });`;

/** The main thread's handle on the crypto thread. */
export class CryptoThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();
  #next = 0;

  constructor(dataKey: Uint8Array) {
    // The thread allocates little (messages, a nonce): a small heap keeps its memory small.
    this.#worker = new Worker(BOOTSTRAP, { eval: true, workerData: MARK, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } });
    this.#worker.unref();
    this.#worker.on('message', (r: Reply) => {
      const p = this.#pending.get(r.id);
      this.#pending.delete(r.id);
      p?.resolve(r);
    });
    this.#worker.on('error', (e) => {
      for (const p of this.#pending.values()) p.reject(e);
      this.#pending.clear();
    });
    this.#worker.postMessage({ op: 'init', key: dataKey } satisfies Message);
  }

  async #call(op: 'seal' | 'open', nonce: Uint8Array, input: Uint8Array, output: Uint8Array, at: number): Promise<number> {
    const id = this.#next++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, nonce, input, output, at } satisfies Message);
    });
    if ('error' in reply) {
      if (reply.error.code !== undefined) throw new WardError(reply.error.code, reply.error.message);
      throw new Error(reply.error.message);
    }
    nonce.set(reply.nonce);
    return reply.len;
  }

  /** {@link sealChunks} on the crypto thread; `input` and `output` must be views of SharedArrayBuffers. */
  seal(nonce: Uint8Array, input: Uint8Array, output: Uint8Array, offset: number): Promise<number> {
    return this.#call('seal', nonce, input, output, offset);
  }

  /** {@link openBlocks} on the crypto thread; `input` and `output` must be views of SharedArrayBuffers. */
  open(nonce: Uint8Array, input: Uint8Array, output: Uint8Array, first: number): Promise<number> {
    return this.#call('open', nonce, input, output, first);
  }

  /** Zeroes the thread's key and ends it. */
  async close(): Promise<void> {
    this.#worker.postMessage({ op: 'close' } satisfies Message);
    await this.#worker.terminate();
  }
}
