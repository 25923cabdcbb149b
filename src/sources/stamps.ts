// Each file's stat when it was last read, and which files no longer match it: the folder's rescan,
// every few seconds. With the fsio addon the paths and their stamps are kept between rescans in
// buffers that the addon's check reads on libuv's thread pool (src/netio/fsio.c, checkStamps), so
// that a rescan of 50,000 files costs the controller's thread a call per STAMP_CHECK_BATCH files
// rather than a path string handed over, a result and a comparison per file (issue 8: at 50,000
// files, one per object, that was 2.5 % of a core while idle, and the garbage of every rescan).
// Without the addon the caller stats each file and asks `matches`.
import type { Stats } from 'node:fs';
import { loadFsioAddon } from '../netio/index.js';
import type { Stamp } from './read.js';
import { settled } from './read-ahead.js';
import { READ_AHEAD_MIN, STAMP_CHECK_BATCH } from './tuning.js';

/** Numbers per file in the stamps' buffer: ino, size, mtimeMs, ctimeMs. */
const FIELDS = 4;

export class Stamps {
  /** Each stamped file's place in #paths and (times FIELDS) in #values. */
  readonly #index = new Map<string, number>();
  #paths: string[] = [];
  #values = new Float64Array(FIELDS * 64);
  /** Files per check of the addon's (one work item on the thread pool). */
  readonly #batch: number;
  /**
   * #paths in batches, each path ended by a NUL, as the addon reads them: batch k holds paths
   * k × #batch onwards. Undefined for a batch where a file was stamped at a new place, or moved into
   * a forgotten one's, since it was packed: a file that comes or goes packs one batch again.
   */
  #packed: (Buffer | undefined)[] = [];
  /** The arrays a check in flight reads: a write copies them first. */
  #lent: Float64Array | undefined;
  #checking: Promise<unknown> | undefined;
  /**
   * The list (a listing reused as it was) whose files were all stamped at the last check: while no
   * stamp is forgotten they still are, and a rescan of it has no file of its own to look up. Only a
   * flat folder's listing is the same list twice (listing.ts); any other is looked through each time.
   */
  #allStamped: readonly string[] | undefined;
  /** Stamps forgotten so far: one forgotten while a list is looked through leaves it unproven. */
  #forgotten = 0;

  constructor(opts: { batch?: number } = {}) {
    this.#batch = opts.batch ?? STAMP_CHECK_BATCH;
  }

  get size(): number {
    return this.#paths.length;
  }

  has(file: string): boolean {
    return this.#index.has(file);
  }

  /** Whether `s` is the stat the file was last read with; false for a file not stamped. */
  matches(file: string, s: Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>): boolean {
    const i = this.#index.get(file);
    if (i === undefined) return false;
    const v = this.#values;
    const at = i * FIELDS;
    return v[at] === s.ino && v[at + 1] === s.size && v[at + 2] === s.mtimeMs && v[at + 3] === s.ctimeMs;
  }

  set(file: string, stamp: Stamp): void {
    this.#own();
    let i = this.#index.get(file);
    if (i === undefined) {
      i = this.#paths.length;
      this.#index.set(file, i);
      this.#paths.push(file);
      this.#repack(i);
      if ((i + 1) * FIELDS > this.#values.length) {
        const grown = new Float64Array(this.#values.length * 2);
        grown.set(this.#values);
        this.#values = grown;
      }
    }
    const v = this.#values;
    const at = i * FIELDS;
    v[at] = stamp.ino;
    v[at + 1] = stamp.size;
    v[at + 2] = stamp.mtimeMs;
    v[at + 3] = stamp.ctimeMs;
  }

  /** Forgets the file's stamp; the last file takes its place. */
  delete(file: string): boolean {
    const i = this.#index.get(file);
    if (i === undefined) return false;
    this.#own();
    const last = this.#paths.length - 1;
    if (i !== last) {
      const moved = this.#paths[last]!;
      this.#paths[i] = moved;
      this.#index.set(moved, i);
      this.#values.copyWithin(i * FIELDS, last * FIELDS, (last + 1) * FIELDS);
    }
    this.#paths.pop();
    this.#index.delete(file);
    // The place the last file left needs no repack: a batch's check reads as many paths as the batch
    // has places, and a file stamped there later repacks it.
    this.#repack(i);
    this.#packed.length = Math.ceil(last / this.#batch);
    this.#allStamped = undefined;
    this.#forgotten++;
    // A folder emptied gives its memory back: the buffer shrinks to half once three quarters are unused.
    if (this.#values.length > FIELDS * 64 && this.#paths.length * FIELDS * 4 <= this.#values.length) {
      this.#values = this.#values.slice(0, this.#values.length / 2);
    }
    return true;
  }

  /**
   * The files of `listed` never stamped (in their order), then every stamped file whose stat no longer
   * matches (gone, not a file, or changed; in no set order). Undefined where the addon is missing or failed, or
   * for fewer than READ_AHEAD_MIN files (a round trip to the pool is not worth it): the caller then
   * stats each file and asks `matches`.
   */
  async changed(listed: readonly string[], pace: () => Promise<void>): Promise<string[] | undefined> {
    if (listed.length < READ_AHEAD_MIN) return undefined;
    const { binding } = loadFsioAddon();
    if (!binding) return undefined;
    // One check at a time: the arrays lent to it are the ones it answers for.
    while (this.#checking) await this.#checking.catch(() => undefined);
    const paths = this.#paths;
    const values = this.#values;
    const size = this.#batch;
    // Packed now, for the paths as they are: a file that comes or goes meanwhile repacks the live
    // list's batches, never these.
    const batches = Array.from(
      { length: Math.ceil(paths.length / size) },
      (_, k) => (this.#packed[k] ??= Buffer.from(`${paths.slice(k * size, (k + 1) * size).join('\0')}\0`)),
    );
    this.#lent = values;
    const check = (async () => {
      const found: number[] = [];
      for (const [k, packed] of batches.entries()) {
        const from = k * size;
        const count = Math.min(size, paths.length - from);
        const own = values.subarray(from * FIELDS, (from + count) * FIELDS);
        const stale = await settled(() => binding.checkStamps(packed, own, count));
        if (stale === undefined) return undefined;
        for (const i of stale) found.push(from + i);
      }
      return found;
    })();
    this.#checking = check;
    let stale: number[] | undefined;
    try {
      stale = await check;
    } finally {
      this.#checking = undefined;
      if (this.#lent === values) this.#lent = undefined;
    }
    if (stale === undefined) return undefined;
    const changed: string[] = [];
    if (listed !== this.#allStamped) {
      const forgotten = this.#forgotten;
      for (let i = 0; i < listed.length; i++) {
        if ((i & 4095) === 4095) await pace();
        if (!this.#index.has(listed[i]!)) changed.push(listed[i]!);
      }
      this.#allStamped = changed.length === 0 && forgotten === this.#forgotten ? listed : undefined;
    }
    // In stamp order: nothing after needs another (a sort of 200,000 paths would hold this thread).
    // One forgotten meanwhile is either listed above or gone: not twice.
    for (const i of stale) if (this.#index.has(paths[i]!)) changed.push(paths[i]!);
    return changed;
  }

  /** The packed batch that holds place `i` is packed again at the next check. */
  #repack(i: number): void {
    const k = Math.floor(i / this.#batch);
    if (k < this.#packed.length) this.#packed[k] = undefined;
  }

  /** Before a write: the arrays a check in flight reads are left to it, and copies written instead. */
  #own(): void {
    if (this.#lent === undefined || this.#lent !== this.#values) return;
    this.#values = this.#values.slice();
    this.#paths = this.#paths.slice();
    this.#lent = undefined;
  }
}
