// The control plane for one workload (`meshdns serve` runs it in a worker thread, worker.ts): resources
// from a watched manifests folder → VIP allocation (persisted in the state file) → effective config →
// name table records → the agent, on a thread that answers no DNS. A change recomputes only the names
// it touches (live.ts).
import type { Logger } from 'pino';
import type { PerNameLimits, VipRanges } from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import type { MeshdnsError } from '../errors.js';
import {
  type EffectiveConfig,
  findWorkload,
  type MeshSettings,
  type Resources,
  type Workload,
} from '../model/index.js';
import type { TableRecords, TableScope } from '../nametable/index.js';
import { ManifestSource, type SnapshotChange } from '../sources/index.js';
import type { StoredState } from './control-plane.js';
import { StateFileStore } from './file-store.js';
import { type LiveUpdate, LiveView } from './live.js';
import { workloadNotFound } from './load.js';
import { PerNameKeeper, type PerNameOutcome } from './per-name.js';
import { ProblemLog } from './problems.js';
import type { WorkloadRef, WorkloadView } from './view.js';

export interface ControllerOptions {
  manifestsDir: string;
  scope: TableScope;
  /** `--workload`: its config decides capture and auto-allocation; absent, capture is on. */
  workload?: WorkloadRef;
  meshConfig?: MeshSettings;
  stateFile: string;
  ranges: VipRanges;
  /** How long an absent ServiceEntry keeps its VIPs. */
  graceMs: number;
  /** How long a VIP no host keeps is held back from every host; none: not at all. */
  holdbackMs?: number;
  /** A new view (table, VIPs, config), with the invalid objects left out of it, and its table's change. */
  onView: (view: WorkloadView, errors: MeshdnsError[], update: LiveUpdate) => void;
  logger: Logger;
  debounceMs?: number;
  /** `--manifests-rescan-interval`: how often the whole folder is re-stat'ed, events or not. */
  rescanIntervalMs?: number;
  /** `--max-manifest-bytes`: a bigger file is reported and its last good objects kept. */
  maxManifestBytes?: number;
  /** `serve --state-lock-wait`: how long a state file locked by a running process is waited for. */
  stateLockWaitMs?: number;
  /** Per-name VIPs under wildcard entries (issue 14 item 5): cap, rate and idle expiry. */
  perName: PerNameLimits;
}

export class Controller {
  private readonly source: ManifestSource;
  private opts: ControllerOptions;
  private readonly store: StateFileStore;
  /** The workload as last seen; kept when it drops out of the folder. */
  private workload: Workload | undefined;
  private view: WorkloadView | undefined;
  /** Made once the state file is read: it allocates from what the file holds. */
  private live: LiveView | undefined;
  private readonly problems: ProblemLog;
  private startError: MeshdnsError | undefined;
  private workloadGone = false;
  private failedFiles: ReadonlySet<string> | undefined;
  private initialCapture: boolean | undefined;
  private closed = false;
  /** The source's last snapshot number: a rebuild for per-name names is a change of nothing since it. */
  private lastSeq: number | undefined;
  private readonly perName: PerNameKeeper;
  /** A state file write waits for more new per-name names (saveSoon). */
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.problems = new ProblemLog(opts.logger);
    this.store = new StateFileStore(opts.manifestsDir, opts.stateFile, opts.logger, opts.stateLockWaitMs);
    this.perName = new PerNameKeeper(opts.perName);
    this.source = new ManifestSource({
      dir: opts.manifestsDir,
      debounceMs: opts.debounceMs,
      rescanIntervalMs: opts.rescanIntervalMs,
      maxFileBytes: opts.maxManifestBytes,
      logger: opts.logger,
      onChange: (snapshot, errors, failedFiles, change) =>
        this.rebuild(snapshot, errors, failedFiles, change),
    });
  }

  /**
   * Locks and loads the state file while the folder is read, then builds the first view; throws
   * MESHDNS_STATE_* for a state file it must not write (locked, unknown version, not a file) and
   * MESHDNS_WORKLOAD_NOT_FOUND for a missing `--workload`.
   */
  async start(): Promise<void> {
    // The folder is read meanwhile: locking and loading the state file waits on the disk (10,000
    // objects: about 40 ms before the first file was read).
    this.source.readAhead();
    let previous: StoredState;
    try {
      previous = await this.store.load();
    } catch (e) {
      await this.source.close();
      throw e;
    }
    try {
      this.perName.hosts.restore(previous.allocations, Date.now());
      this.live = new LiveView(this.opts.ranges, previous.allocations, previous.holdback, this.perName.hosts);
      await this.source.start();
      this.perName.start(() => this.tickPerName());
      if (this.startError) {
        await this.source.close();
        throw this.startError;
      }
    } catch (e) {
      await this.store.close();
      throw e;
    }
  }

  /**
   * SIGHUP: new search domains (resolv.conf) and mesh config (`--mesh-config`) are taken, the folder is
   * rescanned, and the view is rebuilt even when no file changed.
   */
  reload(update: { scope?: TableScope; meshConfig?: MeshSettings }): void {
    this.opts = { ...this.opts, ...update };
    if (this.view) this.rebuild(this.source.snapshot(), this.source.errors(), this.failedFiles);
    this.source.rescan();
  }

  /**
   * An agent asks for a VIP of `name` under the per-name wildcard `wildcard`. A new name is allocated and
   * its view sent before this returns, so the agent's answer can wait for that view.
   */
  askPerName(name: string, wildcard: string): PerNameOutcome {
    if (!this.view) return 'unknown';
    const snapshot = this.source.snapshot();
    const found = this.perName.ask(snapshot.serviceEntries, this.opts.scope.namespace, name, wildcard);
    if (found === undefined) return 'unknown';
    if (found.asked === 'added') {
      const entry = `${found.se.meta.namespace}/${found.se.meta.name}`;
      this.opts.logger.debug({ name, wildcard, entry }, 'per-name VIP asked for');
      this.rebuild(snapshot, this.source.errors(), this.failedFiles, this.unchanged(), true);
      // Exhausted (the range is full): the name got no VIP and is forwarded.
      return this.view.allocation.vips(found.se, name) ? 'allocated' : 'unknown';
    }
    return found.asked === 'known' ? 'allocated' : found.asked;
  }

  /** Per-name names answered by the agent since its last report: kept another idle period. */
  touchPerName(names: readonly string[]): void {
    this.perName.hosts.touch(names, Date.now());
  }

  /** No change since the last snapshot: the source's next delta stays trusted across a per-name rebuild. */
  private unchanged(): SnapshotChange | undefined {
    const seq = this.lastSeq;
    return seq === undefined ? undefined : { seq, delta: { base: seq, removed: [], added: [] } };
  }

  /** Idle names leave their entries; the state file learns when the others were last asked. */
  private tickPerName(): void {
    if (!this.view) return;
    const idle = this.perName.hosts.expire(Date.now());
    if (idle > 0) {
      this.opts.logger.info({ names: idle }, 'per-name VIPs not asked for --wildcard-vip-idle: released');
      this.rebuild(this.source.snapshot(), this.source.errors(), this.failedFiles, this.unchanged(), true);
    }
    this.save();
  }

  /** Writes the state file (queued, whole): the latest view's allocations. */
  private save(view = this.view): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (view) this.store.save(view.allocation, this.perName.withAskedAt(view.allocation.state));
  }

  /**
   * New per-name VIPs are written within DEFAULTS.wildcardVipSaveDelayMs, after their answers went out:
   * the file is written whole, so one write per new name would cost every name's VIP each time (names
   * come up to --wildcard-vip-rate a second). A crash meanwhile loses only those names, which are given
   * VIPs again, the lowest free ones, when next asked.
   */
  private saveSoon(): void {
    this.saveTimer ??= setTimeout(() => this.save(), DEFAULTS.wildcardVipSaveDelayMs);
  }

  async close(): Promise<void> {
    // A snapshot the source still delivers (a start stopped half-way) builds nothing more.
    this.closed = true;
    this.perName.close();
    if (this.saveTimer) this.save();
    await this.source.close();
    await this.store.close();
  }

  private rebuild(
    snapshot: Resources,
    errors: MeshdnsError[],
    failedFiles?: ReadonlySet<string>,
    change?: SnapshotChange,
    perNameOnly = false,
  ): void {
    if (this.closed) return;
    this.failedFiles = failedFiles;
    this.lastSeq = change?.seq;
    if (!this.pickWorkload(snapshot)) return;
    // A file that failed to load hides its entries without deleting them: their VIPs are held.
    const health = { now: Date.now(), ...(failedFiles ? { failedFiles } : {}) };
    const update = this.live!.update(snapshot, this.workload, this.opts, health, change);
    const { view } = update;
    // The agent first: writing the state file (all VIPs, as JSON) must not delay the answers.
    this.opts.onView(view, errors, update);
    if (update.stateChanged && perNameOnly) this.saveSoon();
    else if (update.stateChanged) this.save(view);
    this.problems.report([...view.config.errors, ...view.allocation.errors]);
    this.noteCaptureChange(view.config);
    this.initialCapture ??= view.config.capture.value;
    this.view = view;
    const held = view.allocation.held.length;
    // A per-name name comes or goes up to --wildcard-vip-rate times a second: each said at debug level.
    this.opts.logger[perNameOnly ? 'debug' : 'info'](
      {
        names: tableSize(view.records),
        vips: update.served,
        held,
        errors: errors.length,
        dir: this.opts.manifestsDir,
      },
      'name table built',
    );
  }

  /** False when `--workload` names nothing at start: `start()` then fails with that error. */
  private pickWorkload(snapshot: Resources): boolean {
    const ref = this.opts.workload;
    if (!ref) return true;
    const found = findWorkload(snapshot, ref.namespace, ref.name);
    if (found) {
      this.workload = found;
      this.workloadGone = false;
      return true;
    }
    if (!this.view) {
      this.startError = workloadNotFound(ref, this.opts.manifestsDir);
      return false;
    }
    if (!this.workloadGone) {
      this.opts.logger.warn(
        { workload: `${ref.namespace}/${ref.name}` },
        'the workload is no longer in the manifests; keeping its last config',
      );
    }
    this.workloadGone = true;
    return true;
  }

  // Capture decides whether the listener exists at all, which is settled at start (as Istio settles
  // it when the pod starts); a later change is only announced.
  private noteCaptureChange(config: EffectiveConfig): void {
    const before = this.view?.config.capture;
    if (!before || before.value === config.capture.value) return;
    const now = config.capture.value ? 'on' : 'off';
    const at = this.initialCapture ? 'on' : 'off';
    this.opts.logger.warn(
      { DNS_CAPTURE: config.capture.value, source: config.capture.detail },
      now === at
        ? `DNS capture is ${now} again for this workload, as at start`
        : `DNS capture is now ${now} for this workload (${at} at start); restart meshdns serve to apply it`,
    );
  }
}

/** Names in a table, without building it (the worker only sends records). */
function tableSize(r: TableRecords): number {
  return r.exact.size + r.wildcards.size + r.searchWildcards.size;
}
