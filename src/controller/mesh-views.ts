// The controller's views for every agent (issue 10 item 3): one VIP allocation for the mesh, and one
// name table per kind of workload — what a table holds depends only on the workload's namespace
// (`exportTo`), its cluster domain and whether it answers with VIPs (capture and auto-allocation on),
// so every agent of one kind shares one table, built once, kept up to date one change at a time and
// encoded once per change. An agent's own settings (its node metadata, the mesh config) pick its kind;
// a change of the mesh config can move it to another.
import {
  type Allocation,
  allocationKey,
  entryName,
  type HeldBackVip,
  type PerNameHosts,
  perNameWildcard,
  type StoredAllocation,
  VipAllocator,
  type VipRanges,
} from '../allocate/index.js';
import {
  DNS_AUTO_ALLOCATE,
  DNS_CAPTURE,
  type EffectiveConfig,
  effectiveConfig,
  type MeshSettings,
  type Resources,
  type ServiceEntry,
  type Setting,
} from '../model/index.js';
import { TableBuilder } from '../nametable/index.js';
import type { SnapshotChange } from '../sources/index.js';
import {
  contentVersion,
  NAME_TABLE_TYPE_URL,
  type NodeView,
  nodeView,
  ResourcePublisher,
  VIP_ROUTES_TYPE_URL,
  WORKLOAD_CONFIG_TYPE_URL,
  workloadConfigResource,
  type XdsDeltaSource,
  type XdsNode,
  type XdsResource,
  type XdsSetting,
  type XdsSnapshot,
  type XdsSubscription,
} from '../xds/index.js';
import { GiverSet, isEntry } from './givers.js';
import { PerNameCopies } from './per-name-copies.js';
import { splitStatusOnly } from './status-only.js';
import { RouteSet, ViewRoutes } from './xds-routes.js';
import { EntryCache, XdsTableMirror } from './xds-table.js';

export interface MeshViewsOptions {
  ranges: VipRanges;
  /** What was allocated before (state file, or `status.addresses`). */
  previous: readonly StoredAllocation[];
  /** How long an absent ServiceEntry keeps its VIPs. */
  graceMs: number;
  /** The VIPs held back when the state was stored. */
  holdback?: readonly HeldBackVip[];
  /** How long a VIP no host keeps is held back from every host; none: not at all. */
  holdbackMs?: number;
  /** `--mesh-config`: used instead of the resources' MeshConfigs. */
  meshConfig?: MeshSettings;
  /**
   * Per-name VIPs (issue 14 item 5): the names asked under per-name wildcards, each a copy of its entry
   * in every view that sees the entry. Absent: per-name wildcards answer as plain ones.
   */
  perName?: PerNameHosts;
}

/** How the names of per-name wildcards that an entry's `status.addresses` lists are taken (Kubernetes). */
export type StatusNames = 'ignore' | 'add-first' | 'mirror';

export interface MeshUpdate {
  allocation: Allocation;
  /** The allocations to persist changed. */
  stateChanged: boolean;
  /** Views whose table or routes changed (each shared by its agents). */
  viewsChanged: number;
  /** Hosts the views derived again, summed over the views: what the update cost them. */
  hostsRebuilt: number;
}

interface ViewShape {
  namespace: string;
  clusterDomain: string;
  withVips: boolean;
}

const shapeKey = (s: ViewShape) => `${s.namespace}|${s.clusterDomain}|${s.withVips}`;

/** One kind of workload's table and routes, shared by its agents. */
class MeshView {
  readonly publisher = new ResourcePublisher();
  readonly mirror: XdsTableMirror;
  readonly routes: ViewRoutes;
  builder: TableBuilder;
  agents = 0;

  constructor(
    readonly shape: ViewShape,
    views: MeshViews,
  ) {
    // Each host's entry and routes go to the publisher as they change; update() commits once per view.
    const sink = (typeUrl: string) => ({
      set: (name: string, r: XdsResource, version: string) => this.publisher.set(typeUrl, name, r, version),
      remove: (name: string) => this.publisher.remove(typeUrl, name),
    });
    this.mirror = new XdsTableMirror(views.entryCache(shape.clusterDomain), sink(NAME_TABLE_TYPE_URL));
    this.routes = new ViewRoutes(shape.namespace, sink(VIP_ROUTES_TYPE_URL));
    this.builder = views.newBuilder(shape);
  }
}

export class MeshViews {
  readonly #opts: MeshViewsOptions;
  /** `--mesh-config`: given at start, replaced by a reload (SIGHUP). */
  #meshConfig: MeshSettings | undefined;
  readonly #allocator: VipAllocator;
  readonly #givers = new GiverSet();
  readonly #views = new Map<string, MeshView>();
  readonly #nodes = new Set<NodeSubscription>();
  #res: Resources | undefined;
  #allocation: Allocation | undefined;
  /** The entries by namespace/name: their hosts are the allocation keys an edit may touch. */
  readonly #entries = new Map<string, ServiceEntry>();
  /** Every served host's encoded routes, shared by the views. */
  readonly #routes = new RouteSet();
  /** Encoded NameTable entries shared by the views, by cluster domain. */
  readonly #entryCaches = new Map<string, EntryCache>();
  readonly #copies: PerNameCopies | undefined;
  /** The source's change of the snapshot taken last, for a rebuild of per-name names alone. */
  #seq: number | undefined;

  constructor(opts: MeshViewsOptions) {
    this.#opts = opts;
    this.#meshConfig = opts.meshConfig;
    this.#allocator = new VipAllocator(opts.ranges, opts.previous, opts.holdback);
    this.#copies = opts.perName && new PerNameCopies(opts.perName);
  }

  /** The resources of the last update (undefined before the first). */
  get resources(): Resources | undefined {
    return this.#res;
  }

  /**
   * A new `--mesh-config` (undefined: the resources' MeshConfigs decide): every agent's settings are
   * derived again; an agent whose capture or auto-allocation changed moves to the view of its new kind.
   */
  setMeshConfig(meshConfig: MeshSettings | undefined): void {
    this.#meshConfig = meshConfig;
    for (const node of this.#nodes) node.refresh();
  }

  /** The allocation of the last update (undefined before the first). */
  get allocation(): Allocation | undefined {
    return this.#allocation;
  }

  /** Kinds of workload with a table now, and the agents on them (for /debug and tests). */
  views(): { namespace: string; clusterDomain: string; withVips: boolean; agents: number; names: number }[] {
    return [...this.#views.values()].map((v) => ({
      ...v.shape,
      agents: v.agents,
      names: v.mirror.size,
    }));
  }

  /** Takes a new snapshot: allocates, then brings every view up to date and publishes what changed. */
  update(
    res: Resources,
    health: { now: number; failedFiles?: ReadonlySet<string> },
    change?: SnapshotChange,
    statusNames: StatusNames = 'ignore',
  ): MeshUpdate {
    const first = this.#allocation === undefined;
    const taken = this.#givers.take(res, change);
    this.#seq = change?.seq;
    const givenEntries = { removed: taken.removed.filter(isEntry), added: taken.added.filter(isEntry) };
    for (const se of givenEntries.removed) {
      const key = entryName(se);
      if (this.#entries.get(key) === se) this.#entries.delete(key);
    }
    for (const se of givenEntries.added) this.#entries.set(entryName(se), se);
    const names = this.#opts.perName;
    if (names && (statusNames === 'mirror' || (statusNames === 'add-first' && first))) {
      for (const se of first ? this.#entries.values() : givenEntries.added)
        names.fromStatus(se, health.now, statusNames === 'mirror');
    }
    const { removed, added } = this.#copies
      ? this.#copies.withCopies(this.#entries, taken.removed, taken.added)
      : taken;
    const entries = { removed: removed.filter(isEntry), added: added.filter(isEntry) };
    const copies = this.#copies?.all;
    const snapshot =
      copies !== undefined && copies.size > 0 ? [...res.serviceEntries, ...copies] : res.serviceEntries;
    const allocated = this.#allocator.update(snapshot, first ? undefined : entries, {
      ...health,
      graceMs: this.#opts.graceMs,
      ...(this.#opts.holdbackMs ? { holdbackMs: this.#opts.holdbackMs } : {}),
    });
    this.#allocation = allocated.allocation;
    // Each snapshot lists the mesh settings anew; unchanged ones are the same objects (sources keep them).
    const meshChanged = this.#res === undefined || !sameItems(this.#res.mesh, res.mesh);
    this.#res = res;

    const vipsChanged = allocated.changed === 'all' ? this.#allKeys() : [...allocated.changed];
    // The hosts whose routes may differ: those the allocator moved and those of changed entries.
    const touched =
      allocated.changed === 'all'
        ? 'all'
        : [...vipsChanged, ...[...entries.removed, ...entries.added].flatMap(hostKeys)];
    const routesChanged = this.#routes.update(allocated.allocation, touched);
    // Entries whose status alone changed (the controller's own writes read back) give the views no work.
    const forViews = splitStatusOnly(removed, added);
    let viewsChanged = 0;
    let hostsRebuilt = 0;
    for (const view of this.#views.values()) {
      const redrafts = view.builder.redrafts;
      const change = view.builder.update({
        ...forViews,
        vipsChanged: view.shape.withVips ? vipsChanged : [],
      });
      hostsRebuilt += view.builder.redrafts - redrafts;
      view.mirror.apply(change, view.builder.records);
      if (view.shape.withVips) view.routes.apply(this.#routes, routesChanged);
      if (view.publisher.commit().length > 0) viewsChanged++;
    }
    // The mesh config decides the settings of agents that do not set their own.
    if (meshChanged) for (const node of this.#nodes) node.refresh();
    return {
      allocation: allocated.allocation,
      stateChanged: allocated.stateChanged,
      viewsChanged,
      hostsRebuilt,
    };
  }

  /**
   * The same resources again, for per-name names that came or went (asked, expired): a change of
   * nothing since the snapshot taken last, so the source's next delta stays trusted.
   */
  refresh(health: { now: number; failedFiles?: ReadonlySet<string> }): MeshUpdate | undefined {
    const res = this.#res;
    if (res === undefined) return undefined;
    const seq = this.#seq;
    const change = seq === undefined ? undefined : { seq, delta: { base: seq, removed: [], added: [] } };
    return this.update(res, health, change);
  }

  /** One agent's stream (AdsServer's `subscribe`): its view, and its settings. */
  subscribe(node: XdsNode): XdsSubscription {
    if (!this.#res) throw new Error('the controller has no resources yet');
    const sub = new NodeSubscription(nodeView(node), this);
    this.#nodes.add(sub);
    return sub;
  }

  /** @internal NodeSubscription's: the settings of a node under the current mesh config. */
  configOf(node: NodeView): EffectiveConfig {
    const proxyMetadata: Record<string, string> = {};
    if (node.dnsCapture !== undefined) proxyMetadata[DNS_CAPTURE] = String(node.dnsCapture);
    if (node.dnsAutoAllocate !== undefined) proxyMetadata[DNS_AUTO_ALLOCATE] = String(node.dnsAutoAllocate);
    const [, , pod = ''] = node.id.split('~');
    const config = effectiveConfig({
      mesh: this.#res!.mesh,
      meshConfig: this.#meshConfig,
      workload: {
        kind: 'Pod',
        meta: { name: pod.split('.')[0] ?? '', namespace: node.namespace, labels: {}, annotations: {} },
        proxyMetadata,
        source: { file: 'xds', doc: 0 },
      },
    });
    // The node's metadata is the pod's environment, which the injector filled from its annotation.
    const fromNode = (s: Setting, key: string): Setting =>
      s.origin === 'workload' ? { ...s, detail: `${key} of agent ${node.id}` } : s;
    return {
      ...config,
      capture: fromNode(config.capture, DNS_CAPTURE),
      autoAllocate: fromNode(config.autoAllocate, DNS_AUTO_ALLOCATE),
    };
  }

  /** @internal The view for a shape, made (and built whole) on first use. */
  acquire(shape: ViewShape): MeshView {
    const key = shapeKey(shape);
    let view = this.#views.get(key);
    if (!view) {
      view = new MeshView(shape, this);
      view.builder.update({ added: [...this.#givers.all, ...(this.#copies?.all ?? [])] });
      view.mirror.fill(view.builder.records);
      if (shape.withVips) view.routes.apply(this.#routes, this.#routes.keys());
      // Both types exist from the start, empty or not: an agent waits for its first table.
      view.publisher.touch(NAME_TABLE_TYPE_URL);
      view.publisher.touch(VIP_ROUTES_TYPE_URL);
      view.publisher.commit();
      this.#views.set(key, view);
    }
    view.agents++;
    return view;
  }

  /** @internal A view no agent uses any more is dropped: a namespace's last pod gone frees its table. */
  release(view: MeshView): void {
    if (--view.agents > 0) return;
    this.#views.delete(shapeKey(view.shape));
    view.mirror.clear();
  }

  /** @internal */
  entryCache(clusterDomain: string): EntryCache {
    const cache = this.#entryCaches.get(clusterDomain) ?? new EntryCache(clusterDomain);
    this.#entryCaches.set(clusterDomain, cache);
    return cache;
  }

  /** @internal */
  forget(node: NodeSubscription): void {
    this.#nodes.delete(node);
  }

  /** @internal */
  newBuilder(shape: ViewShape): TableBuilder {
    // The NameTable carries hosts only: aliases and search-path forms are the agent's (no search domains).
    const scope = {
      namespace: shape.namespace,
      clusterDomain: shape.clusterDomain,
      searchDomains: [],
      hostsOnly: true,
    };
    const lookup = shape.withVips
      ? (se: ServiceEntry, host: string) => this.#allocation?.vips(se, host)
      : undefined;
    return new TableBuilder(scope, lookup, this.#opts.perName && perNameWildcard);
  }

  #allKeys(): string[] {
    return [...this.#entries.values(), ...(this.#copies?.all ?? [])].flatMap(hostKeys);
  }
}

/** One agent's stream: its settings (its own type) and its view's table and routes. */
class NodeSubscription implements XdsSubscription {
  readonly #node: NodeView;
  readonly #views: MeshViews;
  readonly #own = new ResourcePublisher();
  readonly #listeners = new Set<(typeUrl: string) => void>();
  #view: MeshView;
  #unwatchView: () => void;

  constructor(node: NodeView, views: MeshViews) {
    this.#node = node;
    this.#views = views;
    this.#view = views.acquire(this.#shape(this.#config()));
    this.#unwatchView = this.#view.publisher.watch((t) => this.#notify(t));
  }

  current(typeUrl: string): XdsSnapshot | undefined {
    return this.#publisherOf(typeUrl).current(typeUrl);
  }

  named(typeUrl: string): XdsDeltaSource | undefined {
    return this.#publisherOf(typeUrl).named(typeUrl);
  }

  #publisherOf(typeUrl: string): ResourcePublisher {
    return typeUrl === WORKLOAD_CONFIG_TYPE_URL ? this.#own : this.#view.publisher;
  }

  watch(listener: (typeUrl: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0) return;
      this.#unwatchView();
      this.#views.release(this.#view);
      this.#views.forget(this);
    };
  }

  /** The mesh config changed: new settings, perhaps another view. */
  refresh(): void {
    const shape = this.#shape(this.#config());
    if (shapeKey(shape) === shapeKey(this.#view.shape)) return;
    const old = this.#view;
    this.#unwatchView();
    this.#view = this.#views.acquire(shape);
    this.#unwatchView = this.#view.publisher.watch((t) => this.#notify(t));
    this.#views.release(old);
    this.#notify(NAME_TABLE_TYPE_URL);
    this.#notify(VIP_ROUTES_TYPE_URL);
  }

  #config(): EffectiveConfig {
    const config = this.#views.configOf(this.#node);
    const first = this.#own.named(WORKLOAD_CONFIG_TYPE_URL) === undefined;
    const resource = workloadConfigResource({
      dnsCapture: xdsSetting(config.capture),
      dnsAutoAllocate: xdsSetting(config.autoAllocate),
    });
    this.#own.set(WORKLOAD_CONFIG_TYPE_URL, WORKLOAD_RESOURCE, resource, contentVersion([resource]));
    if (this.#own.commit().length > 0 && !first) this.#notify(WORKLOAD_CONFIG_TYPE_URL);
    return config;
  }

  #shape(config: EffectiveConfig): ViewShape {
    return {
      namespace: this.#node.namespace,
      clusterDomain: this.#node.clusterDomain,
      withVips: config.capture.value && config.autoAllocate.value,
    };
  }

  #notify(typeUrl: string): void {
    for (const l of this.#listeners) l(typeUrl);
  }
}

/** The one WorkloadConfig resource's name in delta xDS. */
const WORKLOAD_RESOURCE = 'workload';

function hostKeys(se: ServiceEntry): string[] {
  return se.hosts.map((h) => allocationKey(se.meta.namespace, se.meta.name, h));
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
}

function xdsSetting(s: Setting): XdsSetting {
  return { value: s.value, origin: s.origin, detail: s.detail };
}
