// The files of a big scan read ahead, a batch at a time, on libuv's thread pool (src/netio/fsio.c), while
// the controller's thread parses the batch before (issue 8: 50,000 files of one object each spent
// about half a second of that thread in open, fstat, read and close). A file read ahead counts only
// when readManifestFile would have taken the same read; anything else (changed while read, too fresh,
// too big, not a file, an error) is read again by readManifestFile, which decides it as always.
// Without the addon there is no read-ahead and every file is read by readManifestFile.
import { FSIO_STATUS, type FsioBinding, loadFsioAddon } from '../netio/index.js';
import { type FileRead, type ReadRules, Stamp, tooFresh } from './read.js';
import { READ_AHEAD, READ_AHEAD_BATCH, READ_AHEAD_BATCH_BYTES, READ_AHEAD_MIN } from './tuning.js';

export { READ_AHEAD_MIN };

/**
 * The addon's call, its promise settling to undefined on any failure: a throw (out of memory, a bad
 * argument) as much as a rejection. Undefined sends the work back to node:fs.
 */
export function settled<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return call().catch(() => undefined);
  } catch {
    return Promise.resolve(undefined);
  }
}

type Batch = Promise<[Float64Array, Buffer] | undefined>;

/** One work item's files, read: what readManifestFile would give for each, where the read can stand for it. */
export interface ReadBatch {
  readonly files: readonly string[];
  /**
   * What readManifestFile would give for `files[i]` under `rules`; undefined when this read cannot
   * stand for it, and the caller reads the file itself.
   */
  take(i: number, rules: ReadRules): FileRead | undefined;
}

export class ReadAhead {
  readonly #binding: FsioBinding;
  readonly #files: readonly string[];
  readonly #maxBytes: number;
  readonly #batchBytes: number;

  /** A read-ahead of `files` (in the order they will be taken), or undefined where it does not pay or cannot be. */
  static of(
    files: readonly string[],
    maxBytes: number,
    batchBytes = READ_AHEAD_BATCH_BYTES,
  ): ReadAhead | undefined {
    if (files.length < READ_AHEAD_MIN) return undefined;
    const { binding } = loadFsioAddon();
    return binding && new ReadAhead(binding, files, maxBytes, batchBytes);
  }

  private constructor(binding: FsioBinding, files: readonly string[], maxBytes: number, batchBytes: number) {
    this.#binding = binding;
    this.#files = files;
    this.#maxBytes = maxBytes;
    this.#batchBytes = batchBytes;
  }

  /**
   * The work items in order, each once read; READ_AHEAD more are being read meanwhile. A whole batch is
   * then taken without a promise per file (50,000 files: a tenth of a second of the controller's thread).
   */
  async *batches(): AsyncGenerator<ReadBatch> {
    const count = Math.ceil(this.#files.length / READ_AHEAD_BATCH);
    /** Each work item's files and its read; let go of (undefined) once its files were taken. */
    const started: ({ files: string[]; read: Batch } | undefined)[] = [];
    for (let k = 0; k < count; k++) {
      for (let j = started.length; j <= Math.min(k + READ_AHEAD, count - 1); j++)
        started.push(this.#start(j));
      const { files, read } = started[k]!;
      started[k] = undefined;
      const got = await read;
      yield { files, take: (i, rules) => (got ? this.#take(got, i, rules) : undefined) };
    }
  }

  #take([meta, bytes]: [Float64Array, Buffer], i: number, rules: ReadRules): FileRead | undefined {
    const at = i * this.#binding.fields;
    if (meta[at] !== FSIO_STATUS.read) return undefined;
    const stamp = new Stamp({
      ino: meta[at + 1]!,
      size: meta[at + 2]!,
      mtimeMs: meta[at + 3]!,
      ctimeMs: meta[at + 4]!,
    });
    // The same order of checks as readManifestFile, with the time of the read's own stat.
    if (tooFresh(stamp, Math.floor(meta[at + 5]!), rules)) return undefined;
    if (stamp.size > rules.maxBytes) return undefined;
    const from = meta[at + 6]!;
    return { kind: 'text', text: bytes.toString('utf8', from, from + stamp.size), stamp };
  }

  #start(k: number): { files: string[]; read: Batch } {
    const files = this.#files.slice(k * READ_AHEAD_BATCH, (k + 1) * READ_AHEAD_BATCH);
    return { files, read: settled(() => this.#binding.readFiles(files, this.#maxBytes, this.#batchBytes)) };
  }
}
