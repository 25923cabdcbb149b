// The flags every workload-shaped command shares (`serve`, `table`, `vips`, `config`), checked once.
import type { PerNameLimits, VipRanges } from '../allocate/index.js';
import type { LoadOptions, WorkloadRef } from '../controller/index.js';
// Not through the controller's index: serve reads these flags on the thread that answers DNS, which
// must not load the model (zod) and the manifests source (yaml) that only the controller's worker needs.
import { defaultStateFile } from '../controller/state-path.js';
import { DEFAULTS } from '../defaults.js';
// Not through the nametable's index either: the constant alone, which loads only the codec.
import { TABLE_TTL } from '../nametable/entry.js';
import { flagError, parseDomain, parsePositiveInt, parseSeconds } from './flags.js';
import { parseVipRangeFlag, parseWorkloadRef } from './mesh-flags.js';

export interface WorkloadFlags {
  manifests: string;
  workload?: string;
  namespace?: string;
  clusterDomain?: string;
  meshConfig?: string;
  stateFile?: string;
  vipRangeV4?: string;
  vipRangeV6?: string;
  vipReleaseGrace?: string;
  vipHoldback?: string;
  wildcardVipCap?: string;
  wildcardVipRate?: string;
  wildcardVipIdle?: string;
}

export interface WorkloadSetup {
  manifestsDir: string;
  workload?: WorkloadRef;
  namespace: string;
  clusterDomain: string;
  meshConfigFile?: string;
  stateFile: string;
  ranges: VipRanges;
  /** How long an absent ServiceEntry keeps its VIPs. */
  graceMs: number;
  /** How long a VIP no host keeps is held back from every host. */
  holdbackMs: number;
  /** Per-name VIPs under wildcard entries (`serve`'s flags; defaults elsewhere). */
  perName: PerNameLimits;
}

export function resolveWorkloadFlags(flags: WorkloadFlags): WorkloadSetup {
  const workload = flags.workload ? parseWorkloadRef('--workload', flags.workload) : undefined;
  const namespace = flags.namespace ? parseDomain('--namespace', flags.namespace) : undefined;
  if (workload && namespace && namespace !== workload.namespace) {
    throw flagError(
      '--namespace',
      flags.namespace!,
      `--workload ${flags.workload} is in namespace ${workload.namespace}`,
    );
  }
  return {
    manifestsDir: flags.manifests,
    ...(workload ? { workload } : {}),
    namespace: workload?.namespace ?? namespace ?? DEFAULTS.namespace,
    clusterDomain: parseDomain('--cluster-domain', flags.clusterDomain ?? DEFAULTS.clusterDomain),
    ...(flags.meshConfig ? { meshConfigFile: flags.meshConfig } : {}),
    stateFile: flags.stateFile ?? defaultStateFile(flags.manifests),
    ranges: {
      v4: parseVipRangeFlag('--vip-range-v4', flags.vipRangeV4 ?? DEFAULTS.vipRangeV4, 4),
      v6: parseVipRangeFlag('--vip-range-v6', flags.vipRangeV6 ?? DEFAULTS.vipRangeV6, 6),
    },
    graceMs: flags.vipReleaseGrace
      ? parseSeconds('--vip-release-grace', flags.vipReleaseGrace) * 1000
      : DEFAULTS.vipReleaseGraceMs,
    holdbackMs: flags.vipHoldback ? parseHoldback(flags.vipHoldback) : DEFAULTS.vipHoldbackMs,
    perName: {
      cap: parsePositiveInt('--wildcard-vip-cap', flags.wildcardVipCap ?? String(DEFAULTS.wildcardVipCap)),
      ratePerSecond: parsePositiveInt(
        '--wildcard-vip-rate',
        flags.wildcardVipRate ?? String(DEFAULTS.wildcardVipRate),
      ),
      idleMs: flags.wildcardVipIdle
        ? parseSeconds('--wildcard-vip-idle', flags.wildcardVipIdle) * 1000
        : DEFAULTS.wildcardVipIdleMs,
    },
  };
}

/**
 * `--vip-holdback`: never shorter than twice the TTL VIPs are answered with (issue 14 item 4), so that a
 * client that cached the last answer, and one that asked again just before it expired, are both done.
 */
function parseHoldback(value: string): number {
  const seconds = parseSeconds('--vip-holdback', value);
  if (seconds < 2 * TABLE_TTL)
    throw flagError(
      '--vip-holdback',
      value,
      `at least ${2 * TABLE_TTL} s: twice the TTL (${TABLE_TTL} s) VIPs are answered with, or a client may still connect to a VIP that went to another host`,
    );
  return seconds * 1000;
}

/** The setup as `loadView` takes it, with the search domains the table should use. */
export function loadOptions(setup: WorkloadSetup, searchDomains: string[]): LoadOptions {
  return {
    manifestsDir: setup.manifestsDir,
    stateFile: setup.stateFile,
    ...(setup.meshConfigFile ? { meshConfigFile: setup.meshConfigFile } : {}),
    ...(setup.workload ? { workload: setup.workload } : {}),
    scope: { namespace: setup.namespace, clusterDomain: setup.clusterDomain, searchDomains },
    ranges: setup.ranges,
    graceMs: setup.graceMs,
    holdbackMs: setup.holdbackMs,
  };
}
