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
import {
  effectiveConfig,
  type Resource,
  type Resources,
  type ServiceEntry,
  type Workload,
} from '../model/index.js';
import { changeToDiff, diffTables, TableBuilder, type TableDiff } from '../nametable/index.js';
import type { SnapshotChange } from '../sources/index.js';
import type { VipRoute } from '../vip/index.js';
import { GiverSet, isEntry } from './givers.js';
import type { KeyedDiff, ServedVips } from './messages.js';
import { KeyedMirror } from './mirror.js';
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
  /** The copies given to the allocator and the table builder, by entry `namespace/name`, then by name. */
  readonly #copies = new Map<string, Map<string, ServiceEntry>>();
  /** The same, every one. */
  readonly #allCopies = new Set<ServiceEntry>();

  constructor(
    ranges: VipRanges,
    previous: readonly StoredAllocation[],
    holdback: readonly HeldBackVip[] = [],
    perName?: PerNameHosts,
  ) {
    this.#allocator = new VipAllocator(ranges, previous, holdback);
    this.#perName = perName;
  }

  /**
   * The snapshot's change with the per-name copies' (per-name.ts): an entry removed takes its copies with
   * it, one added or edited brings its own, and each name that came or went since is one copy in or out.
   */
  #withCopies(removed: Resource[], added: Resource[]): { removed: Resource[]; added: Resource[] } {
    const names = this.#perName;
    if (names === undefined || !names.active) return { removed, added };
    const out = { removed: [...removed], added: [...added] };
    const whole = new Set<string>();
    for (const r of [...removed, ...added]) if (isEntry(r)) whole.add(entryName(r));
    for (const key of whole) this.#regive(names, key, undefined, out);
    for (const [key, changed] of names.takeChanged())
      if (!whole.has(key)) this.#regive(names, key, changed, out);
    return out;
  }

  /** What entry `key` was given against what it holds now: the names `only`, or every one. */
  #regive(
    names: PerNameHosts,
    key: string,
    only: ReadonlySet<string> | undefined,
    out: { removed: Resource[]; added: Resource[] },
  ): void {
    const given = this.#copies.get(key) ?? new Map<string, ServiceEntry>();
    const se = this.#entries.get(key);
    const check = only ?? new Set([...given.keys(), ...(se ? names.names(se) : [])]);
    for (const name of check) {
      const before = given.get(name);
      const after = se && names.copy(se, name);
      if (before === after) continue;
      if (before !== undefined) {
        out.removed.push(before);
        this.#allCopies.delete(before);
        given.delete(name);
      }
      if (after !== undefined) {
        out.added.push(after);
        this.#allCopies.add(after);
        given.set(name, after);
      }
    }
    if (given.size > 0) this.#copies.set(key, given);
    else this.#copies.delete(key);
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
    const { removed, added } = this.#withCopies(taken.removed, taken.added);
    const entries = { removed: removed.filter(isEntry), added: added.filter(isEntry) };
    const snapshot =
      this.#copies.size > 0 ? [...res.serviceEntries, ...[...this.#allCopies]] : res.serviceEntries;

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
      builder.update({ added: [...this.#givers.all, ...[...this.#allCopies]] });
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
    // Both mirrors take every key on a whole rebuild: the list is made once.
    let allKeys: string[] | undefined;
    const all = () => (allKeys ??= this.#allKeys());
    const vips = this.#sentVips.diff(touched, (key) => plain(served(key)), all);
    const routes = this.#sentRoutes.diff(touched, (key) => routesOf(served(key)), all);

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
    return [...this.#entries.values(), ...[...this.#allCopies]].flatMap(hostKeys);
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
