// The view `meshdns serve` keeps: the same answers as buildView (view.ts), but kept up to date one
// change at a time (issue 8: an edit at 100,000 objects must reach the answers in under a second).
// What changed is found by object identity: the manifests source hands back the same objects for
// the files it did not re-read, so an edit touches only the objects of the files that changed; the
// allocator (VipAllocator) and the table (TableBuilder) then work in proportion to that.
import {
  type Allocation,
  allocationKey,
  entryName,
  type HeldBackVip,
  type HostVips,
  type PerNameHosts,
  perNameWildcard,
  type StoredAllocation,
  VipAllocator,
  type VipRanges,
} from '../allocate/index.js';
import { effectiveConfig, type Resources, type ServiceEntry, type Workload } from '../model/index.js';
import { changeToDiff, diffTables, TableBuilder, type TableDiff } from '../nametable/index.js';
import type { SnapshotChange } from '../sources/index.js';
import type { VipRoute } from '../vip/index.js';
import { GiverSet, isEntry } from './givers.js';
import type { KeyedDiff, ServedVips } from './messages.js';
import { KeyedMirror } from './mirror.js';
import { PerNameCopies } from './per-name-copies.js';
import { hostRoutes } from './routes.js';
import { type ViewOptions, type WorkloadView, workloadView } from './view.js';

/** A view and how it differs from the previous one, as the agent takes it. */
export interface LiveUpdate {
  view: WorkloadView;
  diff: TableDiff;
  /** Served VIPs and their routes, by allocation key. */
  vips: KeyedDiff<ServedVips>;
  routes: KeyedDiff<VipRoute[]>;
  /** Hosts answering with VIPs now. */
  served: number;
  /** The allocations to persist changed (`view.allocation.state` is then worth writing). */
  stateChanged: boolean;
}

/** What an incremental table depends on besides the resources: a change rebuilds it whole. */
function tableShape(opts: ViewOptions, withVips: boolean): string {
  return JSON.stringify([opts.scope, withVips]);
}

export class LiveView {
  readonly #allocator: VipAllocator;
  #allocation: Allocation | undefined;
  #builder: TableBuilder | undefined;
  #shape: string | undefined;
  readonly #givers = new GiverSet();
  /** The snapshot's entries by namespace/name. */
  readonly #entries = new Map<string, ServiceEntry>();
  readonly #sentVips = new KeyedMirror<ServedVips>();
  readonly #sentRoutes = new KeyedMirror<VipRoute[]>();
  /** Per-name VIPs (issue 14 item 5): each name asked under an entry's wildcard is a copy of the entry. */
  readonly #perName: PerNameHosts | undefined;
  readonly #copies: PerNameCopies | undefined;

  constructor(
    ranges: VipRanges,
    previous: readonly StoredAllocation[],
    holdback: readonly HeldBackVip[] = [],
    perName?: PerNameHosts,
  ) {
    this.#allocator = new VipAllocator(ranges, previous, holdback);
    this.#perName = perName;
    this.#copies = perName && new PerNameCopies(perName);
  }

  update(
    res: Resources,
    workload: Workload | undefined,
    opts: ViewOptions,
    health: { now: number; failedFiles?: ReadonlySet<string> },
    change?: SnapshotChange,
  ): LiveUpdate {
    const taken = this.#givers.take(res, change);
    const first = this.#allocation === undefined;
    for (const se of taken.removed.filter(isEntry)) {
      const key = entryName(se);
      if (this.#entries.get(key) === se) this.#entries.delete(key);
    }
    for (const se of taken.added.filter(isEntry)) this.#entries.set(entryName(se), se);
    const { removed, added } = this.#copies
      ? this.#copies.withCopies(this.#entries, taken.removed, taken.added)
      : taken;
    const entries = { removed: removed.filter(isEntry), added: added.filter(isEntry) };
    const copies = this.#copies?.all ?? new Set<ServiceEntry>();
    const snapshot = copies.size > 0 ? [...res.serviceEntries, ...copies] : res.serviceEntries;

    const allocated = this.#allocator.update(snapshot, first ? undefined : entries, {
      ...health,
      graceMs: opts.graceMs,
      ...(opts.holdbackMs ? { holdbackMs: opts.holdbackMs } : {}),
    });
    const allocation = allocated.allocation;
    this.#allocation = allocation;
    const config = effectiveConfig({ mesh: res.mesh, meshConfig: opts.meshConfig, workload });
    // SPEC §3.5: hosts without addresses answer with their VIPs only for a workload that proxies DNS
    // with auto-allocation on (Istio checks both DNSCapture and DNSAutoAllocate).
    const withVips = config.capture.value && config.autoAllocate.value;

    const shape = tableShape(opts, withVips);
    const whole = !this.#builder || this.#shape !== shape;
    let diff: TableDiff;
    if (!whole && this.#builder) {
      const vipsChanged = !withVips ? [] : allocated.changed === 'all' ? this.#allKeys() : allocated.changed;
      diff = changeToDiff(this.#builder.update({ removed, added, vipsChanged }), this.#builder.records);
    } else {
      const old = this.#builder?.records;
      // The lookup reads the latest allocation, so the builder outlives one update.
      const lookup = withVips
        ? (se: ServiceEntry, host: string) => this.#allocation?.vips(se, host)
        : undefined;
      const builder = new TableBuilder(opts.scope, lookup, this.#perName && perNameWildcard);
      builder.update({ added: [...this.#givers.all, ...copies] });
      diff = diffTables(old, builder.records);
      this.#builder = builder;
      this.#shape = shape;
    }

    // The hosts whose VIPs or routes may differ: those the allocator moved and those of changed entries.
    const touched =
      whole || allocated.changed === 'all'
        ? 'all'
        : new Set([...allocated.changed, ...[...entries.removed, ...entries.added].flatMap(hostKeys)]);
    const served = (key: string) => {
      const h = withVips ? allocation.host(key) : undefined;
      return h && allocation.vips(h.entry, h.host) ? h : undefined;
    };
    const vips: KeyedDiff<ServedVips> = { set: [], remove: [] };
    const routes: KeyedDiff<VipRoute[]> = { set: [], remove: [] };
    // A host's routes are sent only with its VIPs, and go with them: #sentVips holds every key sent.
    const keys = touched === 'all' ? new Set([...this.#sentVips.keys(), ...this.#allKeys()]) : touched;
    for (const key of keys) {
      // Looked up once for both: each lookup builds the key's string again.
      const h = served(key);
      this.#sentVips.put(key, plain(h), vips);
      this.#sentRoutes.put(key, routesOf(h), routes);
    }

    return {
      view: workloadView(config, allocation, this.#builder.records),
      diff,
      vips,
      routes,
      served: this.#sentVips.size,
      stateChanged: allocated.stateChanged,
    };
  }

  #allKeys(): string[] {
    return [...this.#entries.values(), ...(this.#copies?.all ?? [])].flatMap(hostKeys);
  }
}

function hostKeys(se: ServiceEntry): string[] {
  return se.hosts.map((h) => allocationKey(se.meta.namespace, se.meta.name, h));
}

function plain(h: HostVips | undefined): ServedVips | undefined {
  if (!h) return undefined;
  // By assignment: a rest pattern per host cost V8 microseconds each.
  const v: ServedVips = { namespace: h.namespace, name: h.name, host: h.host, state: h.state };
  if (h.entry.perNameOf !== undefined) v.perName = h.entry.perNameOf;
  if (h.v4 !== undefined) v.v4 = h.v4;
  if (h.v6 !== undefined) v.v6 = h.v6;
  if (h.from !== undefined) v.from = h.from;
  return v;
}

function routesOf(h: HostVips | undefined): VipRoute[] | undefined {
  const routes = h ? hostRoutes(h) : [];
  return routes.length > 0 ? routes : undefined;
}

/** The changed names with their records, as the agent takes them. */
