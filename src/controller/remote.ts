// The controller as seen from the agent's thread: a worker thread that reads the folder and builds
// views, and here only the application of each view's table diff, in slices, then one swap. Views are
// applied in the order they were built (each diff is relative to the one before).
import { Worker } from 'node:worker_threads';
import { MeshdnsError } from '../errors.js';
import type { MeshSettings, Setting } from '../model/index.js';
import {
  APPLY_SLICE_MS,
  NameTable,
  type PackedSet,
  type Slicer,
  type TableDiff,
  type TableScope,
  timeSlicer,
} from '../nametable/index.js';
import type { VipRoute } from '../vip/index.js';
import {
  CONTROLLER_RESOURCE_LIMITS,
  type KeyedDiff,
  PRELOADED_WORKER,
  type ServedVips,
  type ToAgent,
  type ToController,
  type ViewPart,
  type ViewUpdate,
  type WorkerOptions,
} from './messages.js';
import { readAll, unpackEntries } from './packed-entries.js';
import type { PerNameOutcome } from './per-name.js';

export interface AppliedView {
  table: NameTable;
  update: ViewUpdate;
  /** The served VIPs or their routes changed with this view. */
  vipsChanged: boolean;
  /** Every served host's VIPs, sorted by host (built on call). */
  vips(): ServedVips[];
  /** Every route of those VIPs (built on call). */
  routes(): VipRoute[];
  /** The diff that made `table` from the one before, as applied here (the agent's workers apply it too). */
  change: { diff: TableDiff; packed: PackedSet[] };
}

export interface ControllerWorkerOptions extends WorkerOptions {
  /** Called with each view once its table is built, in order. */
  onView: (view: AppliedView) => void | Promise<void>;
  /** Hears a view that could not be applied; the next one is applied as usual. */
  onError: (err: unknown) => void;
  /** How long one slice of applying a diff may hold the event loop. */
  sliceMs?: number;
  /**
   * A VIP data plane reads the routes with every view: parse them as they arrive, in slices, rather
   * than all at once when read (13,000 routes: about 16 ms in one turn). Without one they stay JSON.
   */
  parseRoutes?: boolean;
}

/**
 * The worker `bin/meshdns serve` started ahead (PRELOADED_WORKER), given its options; undefined when
 * there is none (another entry point, a second controller in one process) or it died meanwhile.
 */
function takePreloaded(opts: WorkerOptions): Worker | undefined {
  const holder = globalThis as { [PRELOADED_WORKER]?: Worker };
  const worker = holder[PRELOADED_WORKER];
  holder[PRELOADED_WORKER] = undefined;
  if (worker === undefined || worker.threadId === -1) return undefined;
  worker.ref();
  worker.postMessage({ type: 'init', opts } satisfies ToController);
  return worker;
}

export class ControllerWorker {
  readonly #opts: ControllerWorkerOptions;
  readonly #slicer: Slicer;
  #worker: Worker | undefined;
  #table = NameTable.empty();
  #applying: Promise<void> = Promise.resolve();
  #last: ViewUpdate | undefined;
  /** Parts of the view being received. */
  #parts: ViewPart[] = [];
  #scope: TableScope;
  /** The agent's copies of the served VIPs and their routes, by allocation key. */
  /** Each a value, or its JSON as it arrived until something reads it (packed-entries.ts). */
  readonly #vips = new Map<string, ServedVips | string>();
  readonly #routes = new Map<string, VipRoute[] | string>();
  /**
   * A view's `vips` and `routes`, made once: the agent keeps them until the next view, and a closure
   * made while applying would keep that view's parts too (their JSON, 6 MB at 50,000 objects).
   */
  readonly #vipsNow = (): ServedVips[] => sortedVips(readAll(this.#vips));
  readonly #routesNow = (): VipRoute[] => allRoutes(readAll(this.#routes));
  #closed: (() => void) | undefined;
  #exited = false;
  /** The controller's thread was told the first view is applied (it then collects its start's garbage). */
  #appliedOnce = false;
  /** Per-name requests waiting for their answer, by id. */
  readonly #asked = new Map<number, (outcome: PerNameOutcome) => void>();
  #askSeq = 0;

  constructor(opts: ControllerWorkerOptions) {
    this.#opts = opts;
    this.#scope = opts.scope;
    this.#slicer = timeSlicer(opts.sliceMs ?? APPLY_SLICE_MS);
  }

  /** Starts the worker; resolves once the first view is applied. Throws what the controller's start threw. */
  start(): Promise<void> {
    const {
      onView: _onView,
      onError: _onError,
      sliceMs: _sliceMs,
      parseRoutes: _parseRoutes,
      ...workerData
    } = this.#opts;
    const worker =
      takePreloaded(workerData) ??
      new Worker(new URL('./worker.js', import.meta.url), {
        workerData,
        resourceLimits: CONTROLLER_RESOURCE_LIMITS,
      });
    this.#worker = worker;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ToAgent) => {
        if (m.type === 'view-part') {
          this.#parts.push(m);
          // To this worker even while it closes: its 'closed' may be queued behind the next part.
          worker.postMessage({ type: 'ack' } satisfies ToController);
        } else if (m.type === 'view') this.#enqueue(m);
        else if (m.type === 'per-name') this.#answered(m.id, m.outcome);
        else if (m.type === 'started') this.#applying.then(resolve, reject);
        else if (m.type === 'failed')
          reject(m.code ? new MeshdnsError(m.code, m.message) : new Error(m.message));
        else if (m.type === 'closed') this.#closed?.();
      });
      // After start, a dead controller thread leaves the agent answering from its last table: say so.
      worker.on('error', (err) => (this.#last ? this.#opts.onError(err) : reject(err)));
      worker.on('exit', (code) => {
        this.#exited = true;
        const closing = this.#closed !== undefined;
        this.#closed?.();
        const err = new Error(`the controller thread exited (${code}); the last table stays in use`);
        if (!closing) this.#last ? this.#opts.onError(err) : reject(err);
      });
    });
  }

  /** close() was called: a start that resolves after it may have applied no view (config() has none). */
  get closing(): boolean {
    return this.#worker === undefined;
  }

  /** The capture and auto-allocation settings of the latest view (set once `start()` has resolved). */
  config(): { capture: Setting; autoAllocate: Setting } {
    return { capture: this.#last!.capture, autoAllocate: this.#last!.autoAllocate };
  }

  scope(): TableScope {
    return this.#scope;
  }

  reload(update: { scope?: TableScope; meshConfig?: MeshSettings }): void {
    if (update.scope) this.#scope = update.scope;
    this.#post({ type: 'reload', update });
  }

  /**
   * A VIP for `name` under the per-name wildcard `wildcard` (issue 14 item 5); resolves once the view that
   * holds it is applied here (its table swapped in, its routes handed on), or with why there is none.
   */
  askPerName(name: string, wildcard: string): Promise<PerNameOutcome> {
    const id = ++this.#askSeq;
    return new Promise<PerNameOutcome>((resolve) => {
      this.#asked.set(id, resolve);
      this.#post({ type: 'per-name', id, name, wildcard });
    });
  }

  /** Per-name names answered since the last report. */
  touchPerName(names: string[]): void {
    if (names.length > 0) this.#post({ type: 'per-name-touched', names });
  }

  #answered(id: number, outcome: PerNameOutcome): void {
    const resolve = this.#asked.get(id);
    this.#asked.delete(id);
    // The view came before this answer: once it is applied, the name is in the table.
    if (resolve) void this.#applying.then(() => resolve(outcome));
  }

  /** Lets the controller finish (state file writes, the lock), then ends the thread. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker || this.#exited) return;
    await new Promise<void>((resolve) => {
      this.#closed = resolve;
      worker.postMessage({ type: 'close' } satisfies ToController);
    });
    await worker.terminate();
  }

  #post(m: ToController): void {
    this.#worker?.postMessage(m);
  }

  #enqueue(update: ViewUpdate): void {
    const parts = this.#parts;
    this.#parts = [];
    this.#applying = this.#applying.then(async () => {
      try {
        const packed = [...parts.map((p) => p.set), update.packed].filter((p) => typeof p === 'string');
        this.#table = await this.#table.withDiff(update.diff, this.#slicer, packed);
        this.#last = update;
        // 12,500 VIPs and their routes at 50,000 objects: applied in slices too.
        const vipsChanged = await applyKeyed(this.#vips, ahead(parts, 'vips'), update.vips, this.#slicer);
        const routesChanged = await applyKeyed(
          this.#routes,
          ahead(parts, 'routes'),
          update.routes,
          this.#slicer,
          this.#opts.parseRoutes === true,
        );
        if (!this.#appliedOnce) {
          this.#appliedOnce = true;
          this.#post({ type: 'applied' });
        }
        await this.#opts.onView({
          table: this.#table,
          update,
          vipsChanged: vipsChanged || routesChanged,
          vips: this.#vipsNow,
          routes: this.#routesNow,
          change: { diff: update.diff, packed },
        });
      } catch (err) {
        this.#opts.onError(err);
      }
    });
  }
}

/** The `vips` or `routes` entries sent ahead in parts, packed (worker.ts). */
function ahead<K extends 'vips' | 'routes'>(parts: ViewPart[], kind: K): NonNullable<ViewPart[K]>[] {
  return parts.flatMap((p) => (p[kind] ? [p[kind]!] : []));
}

/**
 * Applies a keyed diff (and its entries sent ahead) to the agent's copy; true when anything changed.
 * A packed entry is kept as its JSON, parsed when read (readAll), unless `parse`.
 */
async function applyKeyed<T>(
  into: Map<string, T | string>,
  setsAhead: readonly (string | [string, T][])[],
  diff: KeyedDiff<T>,
  slicer: Slicer,
  parse = false,
): Promise<boolean> {
  let changed = diff.remove.length > 0;
  for (const key of diff.remove) into.delete(key);
  for (const part of [...setsAhead, diff.set]) {
    for (const [key, value] of typeof part === 'string' ? unpackEntries(part) : part) {
      changed = true;
      into.set(key, parse && typeof value === 'string' ? (JSON.parse(value) as T) : value);
      if (slicer.due()) await slicer.pause();
    }
  }
  return changed;
}

/** Every host's routes in one list: a loop, not spread and flat() (12,500 hosts: 62 ms, on the answering thread). */
function allRoutes(byHost: readonly VipRoute[][]): VipRoute[] {
  const out: VipRoute[] = [];
  for (const routes of byHost) for (const r of routes) out.push(r);
  return out;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** In the allocator's order: host, namespace, name. */
function sortedVips(vips: ServedVips[]): ServedVips[] {
  return vips.sort((a, b) => cmp(a.host, b.host) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
}
