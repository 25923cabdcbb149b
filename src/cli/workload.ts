// The flags every workload-shaped command shares (`serve`, `table`, `vips`, `config`), checked once.
import type { Command } from 'commander';
import type { VipRanges } from '../allocate/index.js';
import { defaultStateFile, type LoadOptions, type WorkloadRef } from '../controller/index.js';
import { DEFAULTS } from '../defaults.js';
import { flagError, parseDomain, parseSeconds, parseVipRangeFlag, parseWorkloadRef } from './flags.js';

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
}

/** Adds the allocation flags: where the state lives and the ranges. */
export function allocationOptions(cmd: Command): Command {
  return cmd
    .option(
      '--state-file <file>',
      `VIP allocations (default: <parent of --manifests>/${DEFAULTS.stateDir}/<its name>${DEFAULTS.stateFileSuffix})`,
    )
    .option('--vip-range-v4 <cidr>', 'IPv4 range for auto-allocated VIPs', DEFAULTS.vipRangeV4)
    .option('--vip-range-v6 <cidr>', 'IPv6 range for auto-allocated VIPs', DEFAULTS.vipRangeV6)
    .option(
      '--vip-release-grace <seconds>',
      'how long a deleted ServiceEntry keeps its VIPs before another host may take them',
      String(DEFAULTS.vipReleaseGraceMs / 1000),
    );
}

/** Adds `--namespace` and `--mesh-config` (`--workload` is added by each command: required or not). */
export function workloadOptions(cmd: Command): Command {
  return cmd
    .option(
      '--namespace <ns>',
      `the workload's namespace (default: --workload's, else "${DEFAULTS.namespace}")`,
    )
    .option(
      '--mesh-config <file>',
      "MeshConfig to use instead of the folder's (meshconfig.yaml, ConfigMap istio)",
    );
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
  };
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
  };
}
