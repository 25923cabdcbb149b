// `meshdns controller`: resources from a source (a manifests folder, or the Kubernetes API) → one VIP
// allocation for the mesh → a table per kind of workload (mesh-views.ts) → an xDS stream to every agent.
// The allocation store is the state file (folder) or each ServiceEntry's status (Kubernetes).
import type { Logger } from 'pino';
import type {
  Allocation,
  HeldBackVip,
  PerNameLimits,
  StoredAllocation,
  VipRanges,
} from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import type { MeshSettings } from '../model/index.js';
import type { SnapshotListener } from '../sources/index.js';
import {
  AdsServer,
  type AdsServerOptions,
  PerNameForwarder,
  type XdsPerNameAsk,
  type XdsPerNameReply,
  type XdsPerNameTouch,
} from '../xds/index.js';
import { type MeshUpdate, MeshViews, type StatusNames } from './mesh-views.js';
import { BuildPacer, StatusGate } from './pacer.js';
import { PendingSnapshot, type TakenSnapshot } from './pending-snapshot.js';
import { PerNameKeeper } from './per-name.js';
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
  /**
   * The allocation changed what is to persist. `state`: the records as written when they carry more than
   * the allocator's (per-name hosts' askedAt; a store that keeps them elsewhere ignores it).
   */
  save(allocation: Allocation, state?: readonly StoredAllocation[]): void;
  /** False while another replica writes (a follower): it neither allocates per-name VIPs nor expires them. */
  readonly writing?: boolean;
  /** The replica that writes, when known (the Lease holder). */
  readonly leader?: string | undefined;
  /** Where the writing replica takes forwarded per-name requests, when another replica writes. */
  readonly leaderAddress?: string | undefined;
  /**
   * Per-name names (issue 14 item 5) are kept in each entry's `status.addresses` (Kubernetes): read back
   * at start, and followed there by a follower. Otherwise the state file's records hold them.
   */
  readonly namesInStatus?: boolean;
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
  /** Per-name VIPs under wildcard entries (issue 14 item 5): cap, rate and idle expiry. Absent: off. */
  perName?: PerNameLimits;
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
  readonly #perName: PerNameKeeper | undefined;
  /** The files that failed to load in the snapshot built last (their entries' VIPs are held). */
  #failedFiles: ReadonlySet<string> | undefined;
  /** A store write waits for more new per-name names (#saveSoon). */
  #saveTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** A follower's client of the leader's PerNameVips (remade when the leader moves). */
  #forwarder: PerNameForwarder | undefined;

  constructor(opts: ControlPlaneOptions) {
    this.#opts = opts;
    this.#problems = new ProblemLog(opts.logger);
    this.#perName = opts.perName && new PerNameKeeper(opts.perName);
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
    this.#perName?.hosts.restore(stored.allocations, Date.now());
    this.#views = new MeshViews({
      ranges: this.#opts.ranges,
      previous: stored.allocations,
      holdback: stored.holdback,
      graceMs: this.#opts.graceMs,
      ...(this.#opts.holdbackMs ? { holdbackMs: this.#opts.holdbackMs } : {}),
      ...(this.#opts.meshConfig ? { meshConfig: this.#opts.meshConfig } : {}),
      ...(this.#perName ? { perName: this.#perName.hosts } : {}),
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
    const perName = this.#perName;
    this.#server = new AdsServer({
      ...this.#opts.xds,
      ...(perName
        ? { perName: { ask: (req) => this.askPerName(req), touch: (req) => this.touchPerName(req) } }
        : {}),
      logger,
      subscribe: (node) => {
        logger.debug({ node: node.id }, 'agent connected');
        return views.subscribe(node);
      },
    });
    await this.#server.start();
    this.#listening = true;
    perName?.start(() => this.#tickPerName());
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

  /**
   * An agent asks for a VIP of `name` under the per-name wildcard `wildcard` (issue 14 item 5). A new
   * name is allocated and every view holding it published before this returns, so the agent's stream
   * brings the name as soon as (or before) the reply. Only the writing replica allocates: a follower's
   * VIPs would collide with the leader's; it answers `not-leader` and the agent asks again later.
   */
  askPerName(req: XdsPerNameAsk): XdsPerNameReply | Promise<XdsPerNameReply> {
    const views = this.#views;
    const res = views?.resources;
    const keeper = this.#perName;
    if (!views || !res || !keeper || this.#closed) return { outcome: 'unknown' };
    const store = this.#opts.store;
    if (store.writing === false) return this.#forward(req);
    const found = keeper.ask(res.serviceEntries, req.namespace, req.name, req.wildcard);
    if (found === undefined) return { outcome: 'unknown' };
    if (found.asked === 'cap' || found.asked === 'rate') return { outcome: found.asked };
    if (found.asked === 'added') {
      const entry = `${found.se.meta.namespace}/${found.se.meta.name}`;
      this.#opts.logger.debug(
        {
          name: req.name,
          wildcard: req.wildcard,
          entry,
          node: req.nodeId,
          forwarded: req.forwarded === true,
        },
        'per-name VIP asked for',
      );
      this.#rebuildPerName();
      // A follower's agents get the name from status: written now, not with the next batch.
      if (req.forwarded) this.#save();
    }
    // Exhausted (the range is full): the name got no VIP and is forwarded.
    const vips = views.allocation?.vips(found.se, req.name);
    return vips ? { outcome: 'allocated', ...vips } : { outcome: 'unknown' };
  }

  /** Per-name names an agent answered since its last report: kept another idle period (by the leader). */
  touchPerName(req: XdsPerNameTouch): void {
    this.#perName?.hosts.touch(req.names, Date.now());
    if (this.#opts.store.writing !== false || req.forwarded) return;
    this.#leader()
      ?.touch(req, DEFAULTS.wildcardVipAskTimeoutMs)
      .catch((err: Error) =>
        this.#opts.logger.debug({ err: err.message }, 'per-name names not forwarded to the leader'),
      );
  }

  /**
   * A follower does not allocate (its VIPs would collide with the leader's): it forwards the ask to the
   * Lease holder, whose view reaches this replica through status.addresses. Without a leader to reach, the
   * agent is told `not-leader` and answers without a VIP of its own; its next query asks again.
   */
  async #forward(req: XdsPerNameAsk): Promise<XdsPerNameReply> {
    const store = this.#opts.store;
    const refused: XdsPerNameReply = {
      outcome: 'not-leader',
      ...(store.leader ? { leader: store.leader } : {}),
    };
    const leader = req.forwarded ? undefined : this.#leader();
    if (!leader) return refused;
    try {
      return await leader.ask(req, DEFAULTS.wildcardVipAskTimeoutMs);
    } catch (err) {
      this.#opts.logger.warn(
        { leader: store.leader, address: leader.target, err: (err as Error).message },
        'per-name VIP request not forwarded to the leader: answered without a VIP',
      );
      return refused;
    }
  }

  /** The client of the leader's address as the Lease says it now. */
  #leader(): PerNameForwarder | undefined {
    const address = this.#opts.store.leaderAddress;
    if (this.#forwarder?.target !== address) {
      this.#forwarder?.close();
      this.#forwarder = address ? new PerNameForwarder(address, this.#opts.xds.tls) : undefined;
    }
    return this.#forwarder;
  }

  /** Builds the views again for per-name names that came or went; persisted soon, not at once. */
  #rebuildPerName(): MeshUpdate | undefined {
    const views = this.#views!;
    const update = views.refresh({
      now: Date.now(),
      ...(this.#failedFiles ? { failedFiles: this.#failedFiles } : {}),
    });
    if (!update) return undefined;
    this.#opts.store.observe?.(update.allocation);
    if (update.stateChanged) this.#saveSoon();
    return update;
  }

  /** Idle names leave their entries (the writing replica decides); the store learns when the rest were asked. */
  #tickPerName(): void {
    const keeper = this.#perName;
    if (!keeper || !this.#views?.allocation || this.#opts.store.writing === false) return;
    if (!keeper.hosts.active) return;
    const idle = keeper.hosts.expire(Date.now());
    if (idle > 0) {
      this.#opts.logger.info({ names: idle }, 'per-name VIPs not asked for --wildcard-vip-idle: released');
      this.#rebuildPerName();
    }
    // The state file keeps when each name was last asked; status does not (nothing to write but releases).
    if (idle > 0 || !this.#opts.store.namesInStatus) this.#save();
  }

  /** Writes the latest allocation (the state file whole, or the status that differs). */
  #save(allocation = this.#views?.allocation): void {
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    if (!allocation || (this.#closed && this.#opts.store.namesInStatus)) return;
    const state = this.#perName?.withAskedAt(allocation.state);
    this.#opts.store.save(allocation, state);
  }

  /**
   * New per-name VIPs are written within DEFAULTS.wildcardVipSaveDelayMs, after their answers went out
   * (names come up to --wildcard-vip-rate a second, and a state file is written whole). A crash meanwhile
   * loses only those names, which get VIPs again when next asked.
   */
  #saveSoon(): void {
    this.#saveTimer ??= setTimeout(() => this.#save(), DEFAULTS.wildcardVipSaveDelayMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#perName?.close();
    // A state file gets the names given just before; status writes are stopping with the store.
    if (this.#saveTimer) this.#save();
    this.#pacer?.close();
    this.#forwarder?.close();
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
    this.#failedFiles = failedFiles;
    const store = this.#opts.store;
    // Per-name names in status: read back at start; a follower keeps to the leader's.
    const statusNames: StatusNames = !store.namesInStatus
      ? 'ignore'
      : store.writing === false
        ? 'mirror'
        : 'add-first';
    const update = views.update(snapshot, { now: Date.now(), failedFiles }, change, statusNames);
    const buildMs = Math.round(performance.now() - started);
    // The build pushed to the agents its views changed for; the frames go out over the next turns.
    if (urgent) this.#gate.hold(this.#opts.statusQuietMs ?? DEFAULTS.controllerStatusQuietMs);
    this.#builds++;
    this.#opts.store.observe?.(update.allocation);
    if (update.stateChanged) this.#save(update.allocation);
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
