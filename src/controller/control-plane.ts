// `meshdns controller`: resources from a source (a manifests folder, or the Kubernetes API) → one VIP
// allocation for the mesh → a table per kind of workload (mesh-views.ts) → an xDS stream to every agent.
// The allocation store is the state file (folder) or each ServiceEntry's status (Kubernetes).
import type { Logger } from 'pino';
import type { Allocation, HeldBackVip, StoredAllocation, VipRanges } from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import type { MeshSettings } from '../model/index.js';
import type { SnapshotListener } from '../sources/index.js';
import { AdsServer, type AdsServerOptions } from '../xds/index.js';
import { MeshViews } from './mesh-views.js';
import { BuildPacer, StatusGate } from './pacer.js';
import { PendingSnapshot, type TakenSnapshot } from './pending-snapshot.js';
import { ProblemLog } from './problems.js';
import { isStatusEcho } from './status-echo.js';

/** What the control plane reads resources from; ManifestSource and KubeSource both fit. */
export interface ResourceSource {
  /** Resolves once the first snapshot went to `onChange`. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Reads everything again (a folder's SIGHUP); a source that sees every change as it is made ignores it. */
  rescan?(): void;
}

export type OnSnapshot = SnapshotListener;

/** What a store kept: the allocations, and the VIPs held back from every host. */
export interface StoredState {
  allocations: StoredAllocation[];
  holdback: HeldBackVip[];
}

/** Where allocations persist. */
export interface AllocationStore {
  /** What was allocated before; called once, before the first snapshot. */
  load(): Promise<StoredState>;
  /** The allocation changed what is to persist. */
  save(allocation: Allocation): void;
  /** Every allocation, changed or not (a store that may start writing later keeps the latest). */
  observe?(allocation: Allocation): void;
  /** When writes may start: the control plane closes the gate while it pushes a change to agents. */
  pace?(gate: { closed(): Promise<void> | undefined }): void;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Makes the source, handing it the callback for its snapshots. */
  source: (onChange: OnSnapshot) => ResourceSource;
  store: AllocationStore;
  ranges: VipRanges;
  graceMs: number;
  /** How long a VIP no host keeps is held back from every host; none: not at all. */
  holdbackMs?: number;
  meshConfig?: MeshSettings;
  xds: Omit<AdsServerOptions, 'subscribe' | 'logger'>;
  logger: Logger;
  /** Names the source in logs: the folder, or "the Kubernetes API". */
  origin: string;
  /** `--debounce`: the shortest time between two builds of a burst (the first goes at once). */
  debounceMs?: number;
  /** How long after a change's build the store starts no write. Default: DEFAULTS.controllerStatusQuietMs. */
  statusQuietMs?: number;
}

export class ControlPlane {
  readonly #opts: ControlPlaneOptions;
  readonly #problems: ProblemLog;
  #views: MeshViews | undefined;
  #server: AdsServer | undefined;
  #source: ResourceSource | undefined;
  #pacer: BuildPacer | undefined;
  /** Holds the store's writes back while a change goes out to agents. */
  readonly #gate = new StatusGate();
  readonly #pending = new PendingSnapshot();
  #builds = 0;

  constructor(opts: ControlPlaneOptions) {
    this.#opts = opts;
    this.#problems = new ProblemLog(opts.logger);
  }

  #listening = false;

  /** The xDS port (0 before start). */
  get port(): number {
    return this.#listening ? this.#server!.address().port : 0;
  }

  get views(): MeshViews | undefined {
    return this.#views;
  }

  /** `--vip-holdback` in ms (0: none), for showing when each held-back VIP is free again. */
  get holdbackMs(): number {
    return this.#opts.holdbackMs ?? 0;
  }

  /** Snapshots taken so far. */
  get builds(): number {
    return this.#builds;
  }

  /** Loads the allocations, takes the first snapshot, then serves agents (never from an empty table). */
  async start(): Promise<void> {
    const { logger } = this.#opts;
    const stored = await this.#opts.store.load();
    this.#views = new MeshViews({
      ranges: this.#opts.ranges,
      previous: stored.allocations,
      holdback: stored.holdback,
      graceMs: this.#opts.graceMs,
      ...(this.#opts.holdbackMs ? { holdbackMs: this.#opts.holdbackMs } : {}),
      ...(this.#opts.meshConfig ? { meshConfig: this.#opts.meshConfig } : {}),
    });
    const views = this.#views;
    this.#opts.store.pace?.(this.#gate);
    const pacer = new BuildPacer({
      debounceMs: this.#opts.debounceMs ?? DEFAULTS.controllerDebounceMs,
      build: (urgent) => {
        const taken = this.#pending.take();
        if (taken) this.#take(views, taken, urgent);
      },
    });
    this.#pacer = pacer;
    let started = false;
    this.#source = this.#opts.source((snapshot, errors, failedFiles, change) => {
      this.#pending.add({ snapshot, errors, failedFiles, change });
      // What the source reads before it has started is built at once and opens no period: the first
      // change after start-up goes out without waiting.
      if (!started) {
        this.#take(views, this.#pending.take()!, true);
        return;
      }
      const urgent = !isStatusEcho(change.delta, views.allocation);
      // From the moment a change is seen until its pushes are out: no status write starts.
      if (urgent) this.#gate.hold(this.#quietMs());
      pacer.offer(urgent);
    });
    await this.#source.start();
    started = true;
    this.#server = new AdsServer({
      ...this.#opts.xds,
      logger,
      subscribe: (node) => {
        logger.debug({ node: node.id }, 'agent connected');
        return views.subscribe(node);
      },
    });
    await this.#server.start();
    this.#listening = true;
    logger.info(
      { xds: `${this.#opts.xds.listen}`, port: this.port, source: this.#opts.origin },
      'serving agents',
    );
  }

  /**
   * SIGHUP: a new `--mesh-config` (undefined when the flag is not given) and a rescan of the source. The
   * settings of every agent are derived again at once; what the rescan finds comes as snapshots.
   */
  reload(update: { meshConfig?: MeshSettings }): void {
    if ('meshConfig' in update) this.#views?.setMeshConfig(update.meshConfig);
    this.#source?.rescan?.();
  }

  async close(): Promise<void> {
    this.#pacer?.close();
    this.#gate.close();
    await this.#server?.close();
    await this.#source?.close();
    await this.#opts.store.close();
  }

  /** A change waits at most a debounce period for its build, then its pushes get the quiet period. */
  #quietMs(): number {
    const debounce = this.#opts.debounceMs ?? DEFAULTS.controllerDebounceMs;
    return debounce + (this.#opts.statusQuietMs ?? DEFAULTS.controllerStatusQuietMs);
  }

  #take(views: MeshViews, taken: TakenSnapshot, urgent: boolean): void {
    const { snapshot, errors, failedFiles, change } = taken;
    // A file that failed to load hides its entries without deleting them: their VIPs are held.
    const started = performance.now();
    const update = views.update(snapshot, { now: Date.now(), failedFiles }, change);
    const buildMs = Math.round(performance.now() - started);
    // The build pushed to the agents its views changed for; the frames go out over the next turns.
    if (urgent) this.#gate.hold(this.#opts.statusQuietMs ?? DEFAULTS.controllerStatusQuietMs);
    this.#builds++;
    this.#opts.store.observe?.(update.allocation);
    if (update.stateChanged) this.#opts.store.save(update.allocation);
    this.#problems.report([...errors, ...update.allocation.errors]);
    const fields = {
      entries: snapshot.serviceEntries.length,
      services: snapshot.services.length,
      // Listing the hosts sorts every one of them: done only when the store needed the list anyway.
      ...(update.stateChanged
        ? { vips: update.allocation.hosts.filter((h) => h.v4 !== undefined || h.v6 !== undefined).length }
        : {}),
      held: update.allocation.held.length,
      views: views.views().length,
      viewsChanged: update.viewsChanged,
      hostsRebuilt: update.hostsRebuilt,
      urgent,
      buildMs,
      errors: errors.length,
      source: this.#opts.origin,
    };
    // Status writes read back change no table: one line each would flood the log while 10,000 are written.
    if (urgent || update.viewsChanged > 0) this.#opts.logger.info(fields, 'tables built');
    else this.#opts.logger.debug(fields, 'tables built');
  }
}
