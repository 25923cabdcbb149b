// The messages between the agent's thread and the controller's worker thread: plain data only
// (structured clone), the shape the xDS stream will carry between processes later.
import type { HostVips } from '../allocate/index.js';
import type { ErrorCode } from '../errors.js';
import type { MeshSettings, Setting } from '../model/index.js';
import type { PackedSet, TableDiff, TableScope } from '../nametable/index.js';
import type { VipRoute } from '../vip/index.js';
import type { ControllerOptions } from './controller.js';
import type { PerNameOutcome } from './per-name.js';

/** What the worker is started with: the controller's options without its callbacks and logger. */
export type WorkerOptions = Omit<ControllerOptions, 'onView' | 'logger'> & { logLevel: string };

/** A served host's VIPs as the agent shows them (/debug/vips); `perName`: the wildcard it was asked under. */
export type ServedVips = Omit<HostVips, 'entry'> & { perName?: string };

/** What changed in a keyed collection since the previous view: only that crosses the threads. */
export interface KeyedDiff<T> {
  set: [string, T][];
  remove: string[];
}

/** One new view, as the agent needs it. */
export interface ViewUpdate {
  type: 'view';
  /** Its `set` crosses as `packed` (the worker packs it just before it is posted). */
  diff: TableDiff;
  packed?: PackedSet;
  /** By allocation key (namespace/name/host). */
  vips: KeyedDiff<ServedVips>;
  /** Each served host's routes, by allocation key. */
  routes: KeyedDiff<VipRoute[]>;
  capture: Setting;
  autoAllocate: Setting;
  /** Invalid objects left out of the view. */
  errors: number;
}

export interface ViewPart {
  type: 'view-part';
  /** Names, packed just before the part is posted. */
  set?: TableDiff['set'] | PackedSet;
  /** VIPs and routes, packed once the part is posted (packed-entries.ts; a string crosses threads ~15x cheaper than objects). */
  vips?: KeyedDiff<ServedVips>['set'] | string;
  routes?: KeyedDiff<VipRoute[]>['set'] | string;
}

export type ToAgent =
  | ViewUpdate
  /** Part of the next view's `diff.set`, `vips.set` or `routes.set`, sent ahead in small messages. */
  | ViewPart
  /** The answer to a per-name request, sent after the view that holds the name. */
  | { type: 'per-name'; id: number; outcome: PerNameOutcome }
  | { type: 'started' }
  | { type: 'failed'; code: ErrorCode | undefined; message: string }
  | { type: 'closed' };

export type ToController =
  /** The options of a worker started before they were known (PRELOADED_WORKER); its first message. */
  | { type: 'init'; opts: WorkerOptions }
  | { type: 'reload'; update: { scope?: TableScope; meshConfig?: MeshSettings } }
  /** A view part was taken: the next message may come. */
  | { type: 'ack' }
  /** The first view is applied: the start's garbage can be collected without slowing it. */
  | { type: 'applied' }
  /** A VIP for `name`, first asked under the per-name wildcard `wildcard` (issue 14 item 5). */
  | { type: 'per-name'; id: number; name: string; wildcard: string }
  /** Per-name names answered since the last report: they stay another idle period. */
  | { type: 'per-name-touched'; names: string[] }
  | { type: 'close' };

/**
 * `bin/meshdns serve` starts the controller's worker before it loads the CLI, so that the worker's own
 * modules load on the other core meanwhile (issue 8: they came after the CLI's, about 130 ms later to
 * the first table); it is left on globalThis under this symbol, with `workerData` `{ preload: true }`,
 * until ControllerWorker takes it and sends it its options (`init`).
 */
export const PRELOADED_WORKER = Symbol.for('meshdns.preloadedControllerWorker');

/**
 * The controller's worker gets a young generation of 16 MB instead of V8's default (48 MB on these
 * machines: V8 sizes it from the host's memory); a --max-semi-space-size given to node overrides it.
 * Parsing and allocating keep most of what they make, so a larger young generation mostly copies
 * survivors before they are promoted, and its semi-spaces stay committed after the load. Measured with
 * `serve` (issue 8, alternated runs): 50,000 files of one object, RSS after load 274-276 MiB against
 * 289-292, no slower to the full table; 10,000 objects, 122-124 against 135. 8 MB saved a few MiB more
 * but cost 0.1 s of the controller's CPU at 50,000 objects. `bin/meshdns` spells the same limits for
 * the worker it starts ahead.
 */
export const CONTROLLER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 16 } as const;
