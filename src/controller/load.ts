// The one-shot form of the controller, for `meshdns table`, `vips` and `config`: read the folder,
// the state file and the mesh config once, and build the workload's view. Nothing is written.
import { dirname, join, resolve } from 'node:path';
import { PerNameHosts, readAllocationState, type VipRanges } from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { findWorkload, type Resources, type Workload } from '../model/index.js';
import type { TableScope } from '../nametable/index.js';
import { loadManifests, loadMeshConfigFile } from '../sources/index.js';
import { defaultStateFile } from './state-path.js';
import { buildView, type WorkloadRef, type WorkloadView } from './view.js';

export { defaultStateFile };

export interface LoadOptions {
  manifestsDir: string;
  /** Default: `defaultStateFile(manifestsDir)`. */
  stateFile?: string;
  meshConfigFile?: string;
  workload?: WorkloadRef;
  scope: TableScope;
  ranges: VipRanges;
  graceMs: number;
  holdbackMs?: number;
}

export interface LoadedView extends WorkloadView {
  resources: Resources;
  /** Everything wrong with the inputs, in the order read: manifests, state file, config, allocation. */
  errors: MeshdnsError[];
}

/**
 * The state file every folder of one parent shared before (`<parent>/.meshdns/allocations.json`),
 * when `stateFile` is the default: a missing default starts from a copy of it, so an upgrade keeps its VIPs.
 */
export function legacyStateFile(manifestsDir: string, stateFile: string): string | undefined {
  if (resolve(stateFile) !== defaultStateFile(manifestsDir)) return undefined;
  return join(dirname(resolve(manifestsDir)), DEFAULTS.legacyStateFile);
}

export function workloadNotFound(ref: WorkloadRef, manifestsDir: string): MeshdnsError {
  const why = `--workload ${ref.namespace}/${ref.name}: no Pod, Deployment or StatefulSet of that name in ${manifestsDir}`;
  return new MeshdnsError('MESHDNS_WORKLOAD_NOT_FOUND', why);
}

function requireWorkload(res: Resources, ref: WorkloadRef, manifestsDir: string): Workload {
  const w = findWorkload(res, ref.namespace, ref.name);
  if (w) return w;
  throw workloadNotFound(ref, manifestsDir);
}

export async function loadView(opts: LoadOptions): Promise<LoadedView> {
  const meshConfig = opts.meshConfigFile ? await loadMeshConfigFile(opts.meshConfigFile) : undefined;
  const { resources, errors, failedFiles } = await loadManifests(opts.manifestsDir);
  const workload = opts.workload ? requireWorkload(resources, opts.workload, opts.manifestsDir) : undefined;
  const stateFile = opts.stateFile ?? defaultStateFile(opts.manifestsDir);
  const seedFrom = legacyStateFile(opts.manifestsDir, stateFile);
  const state = await readAllocationState(stateFile, seedFrom ? { seedFrom } : {});
  // Per-name hosts (issue 14 item 5) as the state file holds them: their entries list them as `serve` does.
  const names = new PerNameHosts({
    cap: DEFAULTS.wildcardVipCap,
    ratePerSecond: DEFAULTS.wildcardVipRate,
    idleMs: DEFAULTS.wildcardVipIdleMs,
  });
  names.restore(state.allocations, Date.now());
  const copies = resources.serviceEntries.flatMap((se) =>
    names.names(se).flatMap((n) => names.copy(se, n) ?? []),
  );
  const expanded =
    copies.length > 0
      ? { ...resources, serviceEntries: [...resources.serviceEntries, ...copies] }
      : resources;
  const view = buildView(
    expanded,
    state.allocations,
    workload,
    {
      scope: opts.scope,
      ranges: opts.ranges,
      graceMs: opts.graceMs,
      ...(opts.holdbackMs ? { holdbackMs: opts.holdbackMs } : {}),
      ...(meshConfig ? { meshConfig } : {}),
    },
    { now: Date.now(), failedFiles: new Set(failedFiles) },
    state.holdback,
  );
  return {
    ...view,
    resources,
    errors: [...errors, ...state.errors, ...view.config.errors, ...view.allocation.errors],
  };
}
