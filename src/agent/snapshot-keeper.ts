// The agent's side of a restart (issue 14 item 3). At start it loads the snapshot its predecessor left,
// and keeps looking for a newer one: in a hand-over the new process starts first, and the old one
// writes its snapshot only when told to stop. On SIGTERM it writes its own.
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { MeshdnsError } from '../errors.js';
import { APPLY_SLICE_MS, restoreTable, tableSnapshotProblem, timeSlicer } from '../nametable/index.js';
import type { Agent } from './agent.js';
import {
  readSnapshot,
  SNAPSHOT_VERSION,
  type Snapshot,
  vipsSnapshotProblem,
  writeSnapshot,
} from './snapshot.js';

export interface SnapshotKeeperOptions {
  file: string;
  agent: Agent;
  logger: Logger;
  /** How often the file is looked at besides its folder's events (events are hints). */
  pollMs: number;
  /** Wall-clock milliseconds (the snapshot's ageing); injectable for tests. */
  wallClock?: () => number;
}

/** Longest one slice of reading or writing the snapshot may keep the event loop from answering. */
const SLICE_MS = 4;

export class SnapshotKeeper {
  readonly #opts: SnapshotKeeperOptions;
  readonly #now: () => number;
  /** The file's identity when last read: a write (a rename over it) changes it. */
  #seen = '';
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: SnapshotKeeperOptions) {
    this.#opts = opts;
    this.#now = opts.wallClock ?? Date.now;
  }

  /** Loads the snapshot there is, then watches for a newer one. */
  async start(): Promise<void> {
    await this.#check();
    if (this.#closed) return;
    try {
      const name = basename(this.#opts.file);
      this.#watcher = watch(dirname(this.#opts.file), (_event, file) => {
        if (file === null || file === name) this.#queueCheck();
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No folder yet, or no inotify: the timer still looks.
    }
    this.#timer = setInterval(() => this.#queueCheck(), this.#opts.pollMs);
    this.#timer.unref();
  }

  /** Writes the agent's cache and table; nothing when it has neither (a good older snapshot stays). */
  async save(): Promise<void> {
    await this.close();
    const { agent, file, logger } = this.#opts;
    const table = agent.table()?.toDiff();
    const cache = agent.cacheDump();
    // With the table, the VIPs its names answer with and their routes: a successor answering from the
    // table before it hears from its controller must also carry the connections to those VIPs.
    const vips = table && { hosts: [...agent.vips], routes: agent.routes };
    if (table === undefined && cache.length === 0) return;
    const snapshot: Snapshot = {
      version: SNAPSHOT_VERSION,
      writtenAt: this.#now(),
      pid: process.pid,
      cache,
      ...(table ? { table } : {}),
      ...(vips && vips.hosts.length + vips.routes.length > 0 ? { vips } : {}),
    };
    try {
      await writeSnapshot(file, snapshot, timeSlicer(SLICE_MS, 1));
      logger.info(
        { snapshotFile: file, cacheEntries: cache.length, table: table !== undefined },
        'snapshot written',
      );
    } catch (err) {
      const e = err as MeshdnsError;
      logger.warn({ code: e.code }, e.message);
    }
  }

  /** Stops watching; a load under way finishes first. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    clearInterval(this.#timer);
    await this.#loading;
  }

  #queueCheck(): void {
    if (this.#closed) return;
    this.#loading = this.#loading.then(() => this.#check());
  }

  /** Loads the file when it changed since it was last read and another process wrote it. */
  async #check(): Promise<void> {
    const { file, logger } = this.#opts;
    const id = await stat(file).then(
      (s) => `${s.ino}:${s.size}:${s.mtimeMs}`,
      () => '',
    );
    if (id === this.#seen || id === '' || this.#closed) return;
    this.#seen = id;
    try {
      // A line is up to a few hundred kB: the clock is read after every one.
      const read = await readSnapshot(file, timeSlicer(SLICE_MS, 1));
      if (read === undefined || read.snapshot.pid === process.pid || this.#closed) return;
      await this.#load(read.snapshot, read.badEntries);
    } catch (err) {
      const e = err as MeshdnsError;
      logger.warn({ code: e.code }, e.message);
    }
  }

  /** The snapshot's VIPs and routes, with its table: routes this many, or why not. */
  #useVips(v: Snapshot['vips'], problem: string | undefined): string | number {
    if (v === undefined) return 'none';
    if (problem !== undefined) return `ignored: ${problem}`;
    return this.#opts.agent.setSnapshotVips(v.hosts, v.routes)
      ? v.routes.length
      : 'not needed: fresh ones are in';
  }

  async #load(s: Snapshot, badEntries: number): Promise<void> {
    const { agent, file, logger } = this.#opts;
    const ageMs = Math.max(0, this.#now() - s.writtenAt);
    let table: string | number = 'none';
    let vips: string | number = 'none';
    if (s.table !== undefined) {
      const slicer = timeSlicer(APPLY_SLICE_MS);
      const problem = await tableSnapshotProblem(s.table, slicer);
      if (problem !== undefined) table = `ignored: ${problem}`;
      else if (agent.table() !== undefined && !agent.tableFromSnapshot)
        table = 'not needed: a fresh one is in';
      else {
        const restored = await restoreTable(s.table, slicer);
        // Checked before the table answers: its VIPs' routes are up from the moment it does.
        const vipsProblem = s.vips === undefined ? undefined : await vipsSnapshotProblem(s.vips, slicer);
        table = agent.setSnapshotTable(restored) ? restored.size : 'not needed: a fresh one is in';
        if (typeof table === 'number') vips = this.#useVips(s.vips, vipsProblem);
      }
    }
    const cache = await agent.restoreCache(s.cache, ageMs);
    const invalid = (cache?.invalid ?? 0) + badEntries;
    logger.info(
      { snapshotFile: file, writtenBy: s.pid, ageMs, table, vips, cache: cache && { ...cache, invalid } },
      'snapshot loaded: cache warm, table used until a fresh one comes',
    );
  }
}
