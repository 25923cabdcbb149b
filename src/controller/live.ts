// The view `meshdns serve` keeps: the same answers as buildView (view.ts), but kept up to date one
// change at a time (issue 8: an edit at 100,000 objects must reach the answers in under a second).
// What changed is found by object identity: the manifests source hands back the same objects for
// the files it did not re-read, so an edit touches only the objects of the files that changed.
import { type Allocation, allocate, allocationKey, type StoredAllocation } from '../allocate/index.js';
import {
  effectiveConfig,
  type Resource,
  type Resources,
  type ServiceEntry,
  type Workload,
} from '../model/index.js';
import {
  type TableBuilder as Builder,
  diffTables,
  NameTable,
  nameGivers,
  TableBuilder,
  type TableChange,
  type TableDiff,
  type TableRecords,
} from '../nametable/index.js';
import type { ViewOptions, WorkloadView } from './view.js';

/** A view and how its table differs from the previous one's. */
export interface LiveUpdate {
  view: WorkloadView;
  diff: TableDiff;
}

/** What an incremental table depends on besides the resources: a change rebuilds it whole. */
function tableShape(opts: ViewOptions, withVips: boolean): string {
  return JSON.stringify([opts.scope, withVips]);
}

export class LiveView {
  #builder: Builder | undefined;
  #shape: string | undefined;
  /** The snapshot's objects that give names (Services, endpoints, entries), by identity. */
  #givers = new Set<Resource>();
  #allocation: Allocation | undefined;

  update(
    res: Resources,
    previous: readonly StoredAllocation[],
    workload: Workload | undefined,
    opts: ViewOptions,
    health: { now: number; failedFiles?: ReadonlySet<string> },
  ): LiveUpdate {
    const before = this.#allocation;
    const allocation = allocate(res.serviceEntries, previous, opts.ranges, {
      ...health,
      graceMs: opts.graceMs,
    });
    this.#allocation = allocation;
    const config = effectiveConfig({ mesh: res.mesh, meshConfig: opts.meshConfig, workload });
    // SPEC §3.5: hosts without addresses answer with their VIPs only for a workload that proxies DNS
    // with auto-allocation on (Istio checks both DNSCapture and DNSAutoAllocate).
    const withVips = config.capture.value && config.autoAllocate.value;

    const givers = new Set<Resource>(nameGivers(res));
    const shape = tableShape(opts, withVips);
    let diff: TableDiff;
    if (this.#builder && this.#shape === shape) {
      const removed = [...this.#givers].filter((r) => !givers.has(r));
      const added = [...givers].filter((r) => !this.#givers.has(r));
      const vipsChanged = withVips ? movedVips(before, allocation, res.serviceEntries) : [];
      diff = toDiff(this.#builder.update({ removed, added, vipsChanged }), this.#builder.records);
    } else {
      const old = this.#builder?.records;
      // The lookup reads the latest allocation, so the builder outlives one update.
      const builder = new TableBuilder(
        opts.scope,
        withVips ? (se, host) => this.#allocation?.vips(se, host) : undefined,
      );
      builder.update({ added: givers });
      diff = diffTables(old, builder.records);
      this.#builder = builder;
      this.#shape = shape;
    }
    this.#givers = givers;
    const records = this.#builder.records;
    let table: NameTable | undefined;
    return {
      view: {
        config,
        allocation,
        records,
        get table() {
          table ??= NameTable.fromRecords(records);
          return table;
        },
      },
      diff,
    };
  }
}

/** The hosts whose served VIPs differ between two allocations. */
function movedVips(
  before: Allocation | undefined,
  after: Allocation,
  entries: readonly ServiceEntry[],
): string[] {
  const moved: string[] = [];
  for (const se of entries) {
    for (const host of se.hosts) {
      const a = before?.vips(se, host);
      const b = after.vips(se, host);
      if (a?.v4 !== b?.v4 || a?.v6 !== b?.v6)
        moved.push(allocationKey(se.meta.namespace, se.meta.name, host));
    }
  }
  return moved;
}

/** The changed names with their records, as the agent takes them. */
function toDiff(change: TableChange, records: TableRecords): TableDiff {
  const diff: TableDiff = {
    set: change.set.map((key) => [key, JSON.stringify(records.exact.get(key))]),
    remove: change.remove,
  };
  if (change.wildcards) {
    diff.wildcards = [...records.wildcards];
    diff.searchWildcards = [...records.searchWildcards];
  }
  return diff;
}
