// The flags every workload-shaped command shares (`serve`, `table`, `vips`, `config`): their
// definitions only, so that the CLI can list them without loading what checks them (workload.ts).
import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';

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
    )
    .option(
      '--vip-holdback <seconds>',
      'a VIP no host keeps any more goes to no other host for this long after it was last answered (at least twice the answer TTL)',
      String(DEFAULTS.vipHoldbackMs / 1000),
    );
}

/** Adds the per-name VIP flags (issue 14 item 5): `serve` and `controller`, where the allocator is. */
export function perNameOptions(cmd: Command): Command {
  return cmd
    .option(
      '--wildcard-vip-cap <n>',
      'names per wildcard ServiceEntry with a VIP of their own (per-name VIPs); past it a name is forwarded',
      String(DEFAULTS.wildcardVipCap),
    )
    .option(
      '--wildcard-vip-rate <n>',
      'new per-name VIPs per wildcard ServiceEntry per second; past it a name is forwarded until asked again',
      String(DEFAULTS.wildcardVipRate),
    )
    .option(
      '--wildcard-vip-idle <seconds>',
      'a per-name VIP not asked for this long is released (then held back as --vip-holdback says)',
      String(DEFAULTS.wildcardVipIdleMs / 1000),
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
