// What one workload gets from one snapshot of the resources: its effective config (SPEC §2), the
// VIP allocations (§5) and its name table (§3). Pure: the controller calls it on every change, the
// one-shot commands (`table`, `vips`, `config`) once.
import {
  type Allocation,
  allocate,
  type HeldBackVip,
  perNameWildcard,
  type StoredAllocation,
  type VipRanges,
} from '../allocate/index.js';
import {
  type EffectiveConfig,
  effectiveConfig,
  type MeshSettings,
  type Resources,
  type Workload,
} from '../model/index.js';
import { buildTableRecords, NameTable, type TableRecords, type TableScope } from '../nametable/index.js';

/** `--workload NS/NAME`. */
export interface WorkloadRef {
  namespace: string;
  name: string;
}

export interface ViewOptions {
  scope: TableScope;
  ranges: VipRanges;
  /** How long an absent ServiceEntry keeps its VIPs (`--vip-release-grace`). */
  graceMs: number;
  /** How long a VIP no host keeps is held back from every host (`--vip-holdback`); none: not at all. */
  holdbackMs?: number;
  /** `--mesh-config`, used instead of the folder's MeshConfigs. */
  meshConfig?: MeshSettings;
}

export interface WorkloadView {
  config: EffectiveConfig;
  allocation: Allocation;
  /** The name table as data: what the controller diffs and sends to the agent. */
  records: TableRecords;
  /** The same, ready to answer from; built on first use (the one-shot commands, tests). */
  readonly table: NameTable;
}

/** `workload` undefined: `serve` without `--workload` (capture on, as before SPEC §2 was wired in). */
export function buildView(
  res: Resources,
  previous: readonly StoredAllocation[],
  workload: Workload | undefined,
  opts: ViewOptions,
  snapshot: { now: number; failedFiles?: ReadonlySet<string> },
  holdback: readonly HeldBackVip[] = [],
): WorkloadView {
  const allocation = allocate(
    res.serviceEntries,
    previous,
    opts.ranges,
    { ...snapshot, graceMs: opts.graceMs, ...(opts.holdbackMs ? { holdbackMs: opts.holdbackMs } : {}) },
    holdback,
  );
  const config = effectiveConfig({ mesh: res.mesh, meshConfig: opts.meshConfig, workload });
  // SPEC §3.5: hosts without addresses answer with their VIPs only for a workload that proxies DNS
  // with auto-allocation on (Istio checks both DNSCapture and DNSAutoAllocate).
  const withVips = config.capture.value && config.autoAllocate.value;
  return workloadView(
    config,
    allocation,
    buildTableRecords(res, opts.scope, withVips ? allocation.vips : undefined, perNameWildcard),
  );
}

/** A view of these parts; its answering table is built on first use (the one-shot commands, tests). */
export function workloadView(
  config: EffectiveConfig,
  allocation: Allocation,
  records: TableRecords,
): WorkloadView {
  let table: NameTable | undefined;
  return {
    config,
    allocation,
    records,
    get table() {
      table ??= NameTable.fromRecords(records);
      return table;
    },
  };
}
