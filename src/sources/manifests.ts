// The manifests folder as a source of resources: read once, then followed. File events are hints:
// each names a path that is stat'ed and read again if it changed; a periodic rescan of the whole
// folder is the truth, so every change is seen within debounce + rescan interval however it was
// made (in place, by rename, through a ConfigMap's ..data symlink swap, through a hard link). A folder
// whose listing and stat check takes more than a ninth of the interval is rescanned less often, and
// says so.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { formatError, type Resources } from '../model/index.js';
import type { Build, BuildDelta } from './files.js';
import {
  DEBOUNCE_MAX_PERIODS,
  LOAD_SETTLE_ATTEMPTS,
  RESCAN_WAIT_PER_PASS,
  WATCH_RETRY_MS,
} from './tuning.js';

/** Snapshot `seq`, and its change from snapshot `delta.base`. */
export interface SnapshotChange {
  seq: number;
  delta?: BuildDelta;
}

/**
 * A source's snapshots: the resources, all current errors, the files whose content could not be read
 * or parsed (a folder's; always empty for the API), and the snapshot's number with what changed since
 * an earlier one when the source could tell.
 */
export type SnapshotListener = (
  snapshot: Resources,
  errors: MeshdnsError[],
  failedFiles: ReadonlySet<string>,
  change: SnapshotChange,
) => void;

import { ManifestFolder, type ScanResult } from './folder.js';
import { FolderWatch } from './watch.js';

export interface ManifestSourceOptions {
  dir: string;
  /**
   * Called with each new snapshot, all current errors, and the files whose current content could not
   * be read or parsed (see `Build.failedFiles`); first before `start()` resolves.
   */
  onChange: SnapshotListener;
  /**
   * Quiet time after the last event before the named files are read; also how long a file that had
   * content must be unchanged before it is read (a writer may be between two chunks).
   */
  debounceMs?: number;
  /** How often the whole folder is stat'ed, events or not. */
  rescanIntervalMs?: number;
  maxFileBytes?: number;
  logger?: Logger;
}

/** Reads every manifest under `dir` once (for one-shot commands such as `meshdns table`). */
export async function loadManifests(
  dir: string,
  options: { maxFileBytes?: number; logger?: Logger } = {},
): Promise<Build> {
  const rules = { maxBytes: options.maxFileBytes ?? DEFAULTS.maxManifestBytes, settleMs: 0 };
  const folder = new ManifestFolder(dir, rules, options.logger);
  let { changing } = await folder.scan();
  // No last good state to fall back on: wait a little for a file being written, then say so.
  for (let i = 0; i < LOAD_SETTLE_ATTEMPTS && changing.length > 0; i++) {
    await sleep(DEFAULTS.manifestsDebounceMs);
    ({ changing } = await folder.refresh(changing));
  }
  for (const file of changing) {
    const why = `${file}: kept changing while it was read; run again once it is written`;
    folder.files.setUnusable(file, new MeshdnsError('MESHDNS_MANIFEST_UNREADABLE', why));
  }
  return folder.files.build();
}

export class ManifestSource {
  readonly #opts: ManifestSourceOptions;
  readonly #folder: ManifestFolder;
  readonly #watch: FolderWatch;
  readonly #debounceMs: number;
  readonly #rescanMs: number;
  #current: Build | undefined;
  /** Work for the next pass: paths events named, or the whole folder. */
  readonly #dirty = new Set<string>();
  #full = false;
  /** A debounce, rescan or settle timer fired: the work gathered so far is due. */
  #due = false;
  /** Files still being written, read again after a debounce period. */
  readonly #settling = new Set<string>();
  #debounceTimer: NodeJS.Timeout | undefined;
  #pendingSince: number | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  /** The longer wait between rescans last logged (#rescanWait). */
  #loggedWaitMs: number | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #lost = false;
  /** The first read of the folder, started by readAhead(). */
  #first: Promise<ScanResult> | undefined;

  constructor(opts: ManifestSourceOptions) {
    this.#opts = opts;
    this.#debounceMs = opts.debounceMs ?? DEFAULTS.manifestsDebounceMs;
    this.#rescanMs = opts.rescanIntervalMs ?? DEFAULTS.manifestsRescanIntervalMs;
    const rules = { maxBytes: opts.maxFileBytes ?? DEFAULTS.maxManifestBytes, settleMs: this.#debounceMs };
    this.#folder = new ManifestFolder(opts.dir, rules, opts.logger);
    this.#watch = new FolderWatch({
      onEvent: (dir, name) => this.#onEvent(dir, name),
      logger: opts.logger,
      rescanIntervalMs: this.#rescanMs,
    });
  }

  /**
   * Starts the first read of the folder now, for `start()` to take: the caller's own waits (the state
   * file's lock and load) then overlap it. Its error, if any, is thrown by `start()`.
   */
  readAhead(): void {
    if (this.#first) return;
    this.#first = this.#folder.scan();
    // Settled by start(); a start that never comes (the lock refused) must not leave it unhandled.
    this.#first.catch(() => undefined);
  }

  /** Reads the folder, publishes the first snapshot, then watches. Throws MESHDNS_MANIFESTS_DIR. */
  async start(): Promise<void> {
    const first = await (this.#first ?? this.#folder.scan());
    this.#first = undefined;
    await this.#publish();
    // The first read is a load, not a rescan: the interval starts as the flag says.
    this.#after({ ...first, checkMs: 0 }, true);
    this.#watch.follow(this.#folder.dirs);
    // Changes made between the first scan and the watches would otherwise wait for the rescan.
    this.#full = true;
    this.#schedule();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of [this.#debounceTimer, this.#settleTimer, this.#rescanTimer, this.#retryTimer]) {
      clearTimeout(t);
    }
    this.#watch.close();
    await this.#running;
  }

  /** Re-reads the folder now, as if a file event had come (SIGHUP). */
  rescan(): void {
    if (this.#closed) return;
    this.#full = true;
    this.#kick();
  }

  snapshot(): Resources {
    return (this.#current ?? this.#folder.files.build()).resources;
  }

  errors(): MeshdnsError[] {
    return (this.#current ?? this.#folder.files.build()).errors;
  }

  #onEvent(dir: string, name: string | null): void {
    if (this.#closed) return;
    if (name === null) this.#full = true;
    else this.#dirty.add(join(dir, name));
    this.#schedule();
  }

  // Debounced: a burst of events (3,000 files copied) becomes a few passes, each reading only what
  // changed. A folder that never goes quiet still gets a pass every DEBOUNCE_MAX_PERIODS.
  #schedule(): void {
    if (this.#closed || this.#lost) return;
    const now = Date.now();
    this.#pendingSince ??= now;
    if (now - this.#pendingSince >= this.#debounceMs * DEBOUNCE_MAX_PERIODS) return; // let it fire
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#pendingSince = undefined;
      this.#kick();
    }, this.#debounceMs);
  }

  #kick(): void {
    this.#due = true;
    if (this.#running || this.#closed) return; // the running pass takes it when it is done
    this.#running = this.#work().finally(() => {
      this.#running = undefined;
    });
  }

  async #work(): Promise<void> {
    // Events that arrive during a pass wait for their own debounce, so a burst is a few passes.
    while (this.#due && !this.#closed) {
      this.#due = false;
      const full = this.#full;
      const paths = [...this.#dirty];
      this.#full = false;
      this.#dirty.clear();
      let result: ScanResult;
      try {
        result = full ? await this.#folder.scan() : await this.#folder.refresh(paths);
      } catch (e) {
        // The folder is gone or unreadable: serve the last snapshot rather than an empty one.
        this.#lostFolder(e);
        return;
      }
      if (this.#closed) return;
      if (result.changed) await this.#publish();
      if (this.#closed) return;
      this.#after(result, full);
      // Folders that appeared get a watch; what landed in them before it is read by listing them.
      for (const dir of this.#watch.follow(this.#folder.dirs)) {
        this.#dirty.add(dir);
        this.#due = true;
      }
    }
  }

  #after(result: ScanResult, full: boolean): void {
    if (full) {
      this.#lost = false;
      clearTimeout(this.#rescanTimer);
      this.#rescanTimer = setTimeout(
        () => {
          this.#full = true;
          this.#kick();
        },
        this.#rescanWait(result.checkMs ?? 0),
      );
    }
    if (result.changing.length === 0) return;
    for (const file of result.changing) this.#settling.add(file);
    this.#settleTimer ??= setTimeout(() => {
      this.#settleTimer = undefined;
      for (const file of this.#settling) this.#dirty.add(file);
      this.#settling.clear();
      this.#kick();
    }, this.#debounceMs);
  }

  /**
   * How long to wait for the next rescan after one whose listing and stat comparison took `checkMs`
   * (not the reading of what changed: a burst of edits does not space the rescans out): the flag's
   * interval, or nine times that check when it is longer, so that rescans of a very big folder take a
   * tenth of the time. The bound on when a change is seen grows with it, so the longer wait is logged:
   * the first time, when it has doubled or halved since it was last logged (check times vary; a line
   * per rescan would say nothing new), and when it is back to the flag's.
   */
  #rescanWait(checkMs: number): number {
    const tookMs = Math.round(checkMs);
    const waitMs = Math.max(this.#rescanMs, tookMs * RESCAN_WAIT_PER_PASS);
    const logged = this.#loggedWaitMs;
    const files = this.#folder.files.size;
    const fields = { dir: this.#opts.dir, files, tookMs, everyMs: waitMs };
    if (waitMs > this.#rescanMs && (logged === undefined || waitMs >= logged * 2 || waitMs * 2 <= logged)) {
      this.#loggedWaitMs = waitMs;
      this.#opts.logger?.info(
        fields,
        `a rescan of ${files} files took ${tookMs} ms to list and stat: rescanning every ${waitMs} ms, not every ${this.#rescanMs} ms (--manifests-rescan-interval), so that rescans take a tenth of the time; what file events report is still read as it comes`,
      );
    } else if (waitMs === this.#rescanMs && logged !== undefined) {
      this.#loggedWaitMs = undefined;
      this.#opts.logger?.info(fields, `rescanning every ${waitMs} ms again (--manifests-rescan-interval)`);
    }
    return waitMs;
  }

  // Keep the last snapshot, and keep trying; say so once per outage, not once per retry.
  #lostFolder(e: unknown): void {
    if (!this.#lost) {
      const why = e instanceof Error ? formatError(e) : String(e);
      this.#opts.logger?.warn({ dir: this.#opts.dir }, `${why}; keeping the last snapshot, retrying`);
    }
    this.#lost = true;
    this.#watch.close();
    clearTimeout(this.#debounceTimer);
    this.#pendingSince = undefined;
    this.#dirty.clear();
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#full = true;
      this.#kick();
    }, WATCH_RETRY_MS);
  }

  async #publish(): Promise<void> {
    const before = new Set(this.#current?.errors.map(formatError));
    this.#current = await this.#folder.build();
    for (const e of this.#current.errors) {
      if (!before.has(formatError(e))) this.#opts.logger?.warn({ code: e.code }, e.message);
    }
    try {
      const { resources, errors, failedFiles, seq, delta } = this.#current;
      this.#opts.onChange(resources, errors, new Set(failedFiles), { seq, ...(delta ? { delta } : {}) });
    } catch (e) {
      this.#opts.logger?.error({ err: e }, 'manifests onChange handler failed');
    }
  }
}
