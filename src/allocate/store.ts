// The state file: where allocations live between runs when the manifests are files (in Kubernetes,
// each ServiceEntry's status.addresses is the store). Losing it swaps VIPs between live entries, so:
// written whole (temp, fsync, rename) through symlinks; the previous good content kept as `.bak`;
// read record by record (a bad record is skipped, not the file); a damaged file is moved aside, never
// overwritten; an unknown version or a non-regular file is refused; one writer at a time (the lock).
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshdnsError } from '../errors.js';
import { formatError } from '../model/index.js';
import type { StoredAllocation } from './allocator.js';
import type { HeldBackVip } from './holdback.js';
import { StateLock } from './lock.js';
import { replaceFile } from './replace-file.js';
import { parseState, serializeState } from './state-format.js';
import { stateTarget } from './state-target.js';

export interface LoadedState {
  allocations: StoredAllocation[];
  /** VIPs held back from every host (issue 14 item 4), as stored. */
  holdback: HeldBackVip[];
  /** What was wrong and worked around (bad records, a damaged file), each naming the file. */
  errors: MeshdnsError[];
  /** What was done about the file, for an info log: where a damaged file went, a legacy file copied. */
  notes: string[];
}

export interface StateFileOptions {
  /** A file to start from when this one does not exist yet (the legacy shared default); never written. */
  seedFrom?: string;
}

const REBUILD = 'it is rebuilt from the manifests (addresses in status.addresses are kept)';

const invalid = (why: string) => new MeshdnsError('MESHDNS_STATE_INVALID', why);

/** The text of `path`, or undefined when it does not exist. */
async function readText(path: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    // Unreadable is not empty: starting over would hand its VIPs to other hosts.
    const why = `${file}: cannot read the VIP state file (${(e as Error).message}); fix its permissions or pass another --state-file`;
    throw new MeshdnsError('MESHDNS_STATE_UNREADABLE', why, { cause: e });
  }
}

interface Read extends LoadedState {
  /** The file exists but is not wholly good: it must be kept aside before it is rewritten. */
  damaged: boolean;
  /** The file's text when it is wholly good: the next write keeps it as the backup. */
  good?: string;
  missing: boolean;
}

/** The backup's allocations, or why it cannot stand in. */
async function readBackup(backup: string): Promise<LoadedState | string> {
  try {
    const text = await readText(backup, backup);
    if (text === undefined) return 'there is none';
    const parsed = parseState(text, backup);
    if ('damaged' in parsed) return `${backup} ${parsed.damaged}`;
    return {
      allocations: parsed.allocations,
      holdback: parsed.holdback,
      errors: parsed.problems.map((p) => invalid(`${backup}: ${p}`)),
      notes: [],
    };
  } catch (e) {
    return formatError(e as Error);
  }
}

async function readState(path: string, file: string): Promise<Read> {
  const text = await readText(path, file);
  if (text === undefined)
    return { allocations: [], holdback: [], errors: [], notes: [], damaged: false, missing: true };
  const parsed = parseState(text, file);
  if (!('damaged' in parsed)) {
    const errors = parsed.problems.map((p) => invalid(`${file}: ${p}`));
    const good = errors.length === 0 ? text : undefined;
    const { allocations, holdback } = parsed;
    return { allocations, holdback, errors, notes: [], damaged: !good, missing: false, good };
  }
  const backup = `${path}.bak`;
  const fallback = await readBackup(backup);
  if (typeof fallback === 'string') {
    const why = `${file}: the VIP state file ${parsed.damaged}; no usable backup (${fallback}); ${REBUILD}`;
    return {
      allocations: [],
      holdback: [],
      errors: [invalid(why)],
      notes: [],
      damaged: true,
      missing: false,
    };
  }
  const n = fallback.allocations.length;
  const why = `${file}: the VIP state file ${parsed.damaged}; using the backup ${backup} (${n} allocations)`;
  return { ...fallback, errors: [invalid(why), ...fallback.errors], damaged: true, missing: false };
}

function seedNote(file: string, seed: string): string {
  return `${file} does not exist yet: its allocations are copied from ${seed} (the state file all manifests folders of one parent shared before); ${seed} is left as it is`;
}

/**
 * Reads a state file (following symlinks). A missing file is an empty state (or `seedFrom`'s); bad
 * records and a damaged file are reported and worked around. Throws MESHDNS_STATE_VERSION,
 * MESHDNS_STATE_NOT_A_FILE and MESHDNS_STATE_UNREADABLE: what must not be overwritten.
 */
export async function readAllocationState(file: string, opts: StateFileOptions = {}): Promise<LoadedState> {
  const { allocations, holdback, errors, notes } = await readWithSeed(file, opts);
  return { allocations, holdback, errors, notes };
}

async function readWithSeed(file: string, opts: StateFileOptions): Promise<Read & { target: string }> {
  const target = await stateTarget(file);
  const read = await readState(target, file);
  if (!read.missing || !opts.seedFrom) return { ...read, target };
  const seed = await readState(await stateTarget(opts.seedFrom), opts.seedFrom);
  if (seed.missing) return { ...read, target };
  return { ...seed, notes: [seedNote(file, opts.seedFrom), ...seed.notes], missing: true, target };
}

function writeFailed(file: string, e: unknown): MeshdnsError {
  const why = `${file}: cannot write the VIP state file (${formatError(e as Error)}); allocations are kept in memory`;
  return new MeshdnsError('MESHDNS_STATE_WRITE', why, { cause: e });
}

/** Writes the whole state to `file` (to its symlink's target); refuses a target that is not a regular file. */
export async function writeAllocationState(
  file: string,
  allocations: readonly StoredAllocation[],
  holdback: readonly HeldBackVip[] = [],
): Promise<void> {
  const target = await stateTarget(file);
  try {
    await mkdir(dirname(target), { recursive: true });
    await replaceFile(target, serializeState(allocations, holdback));
  } catch (e) {
    throw writeFailed(file, e);
  }
}

function timestamp(): string {
  return new Date().toISOString().replaceAll(':', '-').replace('.', '-');
}

/**
 * One state file for a running controller: locked, loaded once, then written whenever the
 * allocations change, one write at a time, the latest state last.
 */
export class AllocationFile {
  /** What the file holds: undefined when there is none, '' when it must be rewritten. */
  #written: string | undefined;
  /** The last content known good on disk: it becomes the backup on the next write. */
  #good: string | undefined;
  /** The latest state asked for: a queued write of an older one is skipped. */
  #latest: string | undefined;
  #queue: Promise<void> = Promise.resolve();
  #lock: StateLock | undefined;
  /** A damaged file to keep before the first write replaces it. */
  #aside: { from: string; to: string } | undefined;
  /** close() was called: the lock is (being) released, so nothing more is written. */
  #closed = false;

  constructor(
    readonly file: string,
    private readonly opts: StateFileOptions = {},
  ) {}

  /**
   * Takes the writer's lock; throws MESHDNS_STATE_LOCKED (naming the holder) or MESHDNS_STATE_NOT_A_FILE.
   * A holder that runs is waited for up to `waitMs`, `onWait` told once (StateLock.acquire).
   */
  async lock(waitMs = 0, onWait?: (pid: number) => void): Promise<void> {
    const target = await stateTarget(this.file);
    try {
      await mkdir(dirname(target), { recursive: true });
    } catch (e) {
      throw writeFailed(this.file, e);
    }
    this.#lock = await StateLock.acquire(target, this.file, waitMs, onWait);
  }

  /** Reads the file (see readAllocationState); a damaged one is moved aside at once and said where. */
  async load(): Promise<LoadedState> {
    const read = await readWithSeed(this.file, this.opts);
    const notes = [...read.notes];
    this.#aside = undefined;
    if (read.damaged && !read.missing) {
      // Moved at the first write, not now: a start that fails before it must find the file as it was.
      this.#aside = { from: read.target, to: `${read.target}.corrupt-${timestamp()}` };
      notes.push(
        `${this.file}: the damaged VIP state file will be moved to ${this.#aside.to} before it is rewritten`,
      );
    }
    // A damaged, partly bad or seeded file is rewritten at the first save; a good one only on a change.
    if (read.damaged || (read.missing && read.allocations.length > 0)) this.#written = '';
    else this.#written = read.missing ? undefined : serializeState(read.allocations, read.holdback);
    this.#good = read.good;
    return { allocations: read.allocations, holdback: read.holdback, errors: read.errors, notes };
  }

  /** Queues a write when the state differs from what is on disk; `onError` hears write failures. */
  save(
    allocations: readonly StoredAllocation[],
    onError: (e: MeshdnsError) => void,
    holdback: readonly HeldBackVip[] = [],
  ): void {
    // After close() the lock is another process's to take: a late save (the first snapshot of a folder
    // read while the process stopped) must not write.
    if (this.#closed) return;
    const text = serializeState(allocations, holdback);
    // No file and nothing to keep: do not create one (a mesh without auto-allocated hosts).
    const empty = allocations.length === 0 && holdback.length === 0;
    if (text === this.#written || (this.#written === undefined && empty)) return;
    this.#written = text;
    this.#latest = text;
    this.#queue = this.#queue
      .then(() => this.#write(text))
      .catch((e: MeshdnsError) => {
        this.#written = '';
        onError(e);
      });
  }

  async #write(text: string): Promise<void> {
    if (text !== this.#latest) return;
    // Resolved again: the symlink may point elsewhere now, and a device put there is still refused.
    const target = await stateTarget(this.file);
    try {
      await mkdir(dirname(target), { recursive: true });
      if (this.#aside) await this.#moveAside(this.#aside);
      if (this.#good !== undefined) await replaceFile(`${target}.bak`, this.#good);
      await replaceFile(target, text);
    } catch (e) {
      throw writeFailed(this.file, e);
    }
    this.#good = text;
  }

  // Never overwrite what could not be kept: when the move fails, so does the write.
  async #moveAside(aside: { from: string; to: string }): Promise<void> {
    try {
      await rename(aside.from, aside.to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.#aside = undefined;
  }

  /** Resolves once every queued write is done. */
  flush(): Promise<void> {
    return this.#queue;
  }

  /** Finishes the queued writes and releases the lock. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#lock?.release();
    this.#lock = undefined;
  }
}
