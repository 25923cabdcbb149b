// The manifests folder as a source of resources: read once, then watched. Every change re-scans
// the folder (cheap: only changed files are re-read) and hands a new immutable snapshot over.
import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';
import type { MeshdnsError } from '../errors.js';
import { formatError, type Resources } from '../model/index.js';
import {
  DEBOUNCE_MAX_PERIODS,
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_MAX_FILE_BYTES,
  WATCH_RETRY_MS,
} from './defaults.js';
import type { Build } from './files.js';
import { ManifestFolder } from './folder.js';

export interface ManifestSourceOptions {
  dir: string;
  /** Called with each new snapshot and all current errors; first before `start()` resolves. */
  onChange: (snapshot: Resources, errors: MeshdnsError[], failedFiles?: ReadonlySet<string>) => void;
  debounceMs?: number;
  maxFileBytes?: number;
  logger?: Logger;
}

/** Reads every manifest under `dir` once (for one-shot commands such as `meshdns table`). */
export async function loadManifests(
  dir: string,
  options: { maxFileBytes?: number; logger?: Logger } = {},
): Promise<{ resources: Resources; errors: MeshdnsError[] }> {
  const folder = new ManifestFolder(dir, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, options.logger);
  await folder.scan();
  return folder.files.build();
}

export class ManifestSource {
  readonly #opts: ManifestSourceOptions;
  readonly #folder: ManifestFolder;
  readonly #debounceMs: number;
  #current: Build | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #pendingSince: number | undefined;
  #closed = false;
  #lost = false;

  constructor(opts: ManifestSourceOptions) {
    this.#opts = opts;
    this.#debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.#folder = new ManifestFolder(opts.dir, opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, opts.logger);
  }

  /** Reads the folder, publishes the first snapshot, then watches. Throws MESHDNS_MANIFESTS_DIR. */
  async start(): Promise<void> {
    await this.#folder.scan();
    this.#publish();
    this.#watch();
    // Changes made between the first scan and the watch would otherwise wait for the next event.
    this.#schedule();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#running;
  }

  /** Re-reads the folder now, as if a file event had come (SIGHUP). */
  rescan(): void {
    if (!this.#closed) this.#rescan();
  }

  snapshot(): Resources {
    return (this.#current ?? this.#folder.files.build()).resources;
  }

  errors(): MeshdnsError[] {
    return (this.#current ?? this.#folder.files.build()).errors;
  }

  #watch(): void {
    if (this.#closed) return;
    try {
      // Any event just triggers a re-scan: names in events are unreliable across renames and editors.
      this.#watcher = watch(this.#opts.dir, { recursive: true }, () => this.#schedule());
      this.#watcher.on('error', (e) => this.#lostWatch(e));
    } catch (e) {
      this.#lostWatch(e);
    }
  }

  // The watcher died (often: the folder was deleted). Keep the last snapshot, and keep trying;
  // say so once per outage, not once per retry.
  #lostWatch(e: unknown): void {
    if (!this.#lost) {
      const why = e instanceof Error ? formatError(e) : String(e);
      this.#opts.logger?.warn({ dir: this.#opts.dir }, `${why}; keeping the last snapshot, retrying`);
    }
    this.#lost = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#pendingSince = undefined;
    this.#timer = setTimeout(() => {
      this.#watch();
      this.#schedule();
    }, WATCH_RETRY_MS);
  }

  #rewatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watch();
    this.#again = true; // what changed while no watcher was open
  }

  #schedule(): void {
    if (this.#closed || !this.#watcher) return;
    const now = Date.now();
    this.#pendingSince ??= now;
    if (now - this.#pendingSince >= this.#debounceMs * DEBOUNCE_MAX_PERIODS) return; // let it fire
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#rescan(), this.#debounceMs);
  }

  #rescan(): void {
    this.#pendingSince = undefined;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#scanLoop().finally(() => {
      this.#running = undefined;
    });
  }

  async #scanLoop(): Promise<void> {
    do {
      this.#again = false;
      try {
        const { changed, dirsChanged } = await this.#folder.scan();
        this.#lost = false;
        if (changed && !this.#closed) this.#publish();
        // Node's recursive watch on Linux loses track of a folder once it is renamed: watch afresh.
        if (dirsChanged) this.#rewatch();
      } catch (e) {
        // The folder is gone or unreadable: serve the last snapshot rather than an empty one.
        this.#lostWatch(e);
        return;
      }
    } while (this.#again && !this.#closed);
  }

  #publish(): void {
    const before = new Set(this.#current?.errors.map(formatError));
    this.#current = this.#folder.files.build();
    for (const e of this.#current.errors) {
      if (!before.has(formatError(e))) this.#opts.logger?.warn({ code: e.code }, e.message);
    }
    try {
      this.#opts.onChange(this.#current.resources, this.#current.errors);
    } catch (e) {
      this.#opts.logger?.error({ err: e }, 'manifests onChange handler failed');
    }
  }
}
