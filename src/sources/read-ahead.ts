// The files of a big scan read ahead, a batch at a time, on libuv's thread pool (src/netio/fsio.c), while
// the controller's thread parses the batch before (issue 8: 50,000 files of one object each spent
// about a second of that thread in open, fstat, read and close). A file read ahead counts only when
// readManifestFile would have taken the same read; anything else (changed while read, too fresh, too
// big, not a file, an error) is read again by readManifestFile, which decides it as always. Without the addon
// there is no read-ahead and every file is read by readManifestFile.
import { FSIO_STATUS, type FsioBinding, loadFsioAddon } from '../netio/index.js';
import { type FileRead, type ReadRules, Stamp, tooFresh } from './read.js';

/** Scans that read fewer files read them one by one: the thread pool's round trip is not worth it. */
export const READ_AHEAD_MIN = 32;
/** Files per work item. */
const BATCH = 128;
/** Bytes per work item at most (the files after are read by readManifestFile). */
const BATCH_BYTES = 8 << 20;
/** Work items started ahead of the one being taken from. */
const AHEAD = 2;

type Batch = Promise<[Float64Array, Buffer] | undefined>;

export class ReadAhead {
  readonly #binding: FsioBinding;
  readonly #files: readonly string[];
  readonly #maxBytes: number;
  readonly #index = new Map<string, number>();
  /** Each work item: not started (undefined), started, or let go (null) once its files were taken. */
  readonly #batches: (Batch | null | undefined)[] = [];

  /** A read-ahead of `files` (in the order they will be taken), or undefined where it does not pay or cannot be. */
  static of(files: readonly string[], maxBytes: number): ReadAhead | undefined {
    if (files.length < READ_AHEAD_MIN) return undefined;
    const { binding } = loadFsioAddon();
    return binding && new ReadAhead(binding, files, maxBytes);
  }

  private constructor(binding: FsioBinding, files: readonly string[], maxBytes: number) {
    this.#binding = binding;
    this.#files = files;
    this.#maxBytes = maxBytes;
    for (let i = 0; i < files.length; i++) this.#index.set(files[i]!, i);
  }

  /**
   * What readManifestFile would give for `file` under `rules`, from the read done ahead; undefined
   * when that read cannot stand for it, and the caller reads the file itself.
   */
  async take(file: string, rules: ReadRules): Promise<FileRead | undefined> {
    const i = this.#index.get(file);
    if (i === undefined) return undefined;
    const k = Math.floor(i / BATCH);
    for (let j = k; j <= k + AHEAD && j * BATCH < this.#files.length; j++) this.#start(j);
    // Files are taken about in order, a few at a time: two items back, none is left to take.
    if (k >= 2) this.#batches[k - 2] = null;
    const batch = await this.#batches[k];
    if (!batch) return undefined;
    const [meta, bytes] = batch;
    const at = (i - k * BATCH) * this.#binding.fields;
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

  #start(k: number): void {
    if (this.#batches[k] !== undefined) return;
    const files = this.#files.slice(k * BATCH, (k + 1) * BATCH);
    this.#batches[k] = this.#binding.readFiles(files, this.#maxBytes, BATCH_BYTES).catch(() => undefined);
  }
}
