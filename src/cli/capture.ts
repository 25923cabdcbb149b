// `meshdns capture`: prints, applies or removes the DNS capture rules and the VIP route.
import { isIP } from 'node:net';
import {
  applyCapture,
  type CaptureOptions,
  capturePlan,
  removalPlan,
  removeCapture,
  shellLine,
} from '../capture/index.js';
import { flagError, parsePositiveInt } from './flags.js';
import { parseVipRangeFlag } from './mesh-flags.js';

export interface CaptureFlags {
  apply?: boolean;
  remove?: boolean;
  agentPort: string;
  agentUid: string;
  agentGid?: string;
  dnsServers?: string[];
  vipRangeV4: string;
  vipRangeV6: string;
}

function parseId(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw flagError(flag, value, 'expected a numeric user or group id');
  return n;
}

export function captureOptions(flags: CaptureFlags): CaptureOptions {
  const agentPort = parsePositiveInt('--agent-port', flags.agentPort);
  if (agentPort > 65535) throw flagError('--agent-port', flags.agentPort, 'port must be 1-65535');
  for (const s of flags.dnsServers ?? []) {
    if (isIP(s) === 0) throw flagError('--dns-servers', s, 'not an IP address');
  }
  return {
    agentPort,
    agentUid: parseId('--agent-uid', flags.agentUid),
    agentGid: flags.agentGid === undefined ? undefined : parseId('--agent-gid', flags.agentGid),
    dnsServers: flags.dnsServers ?? [],
    vipRanges: {
      v4: parseVipRangeFlag('--vip-range-v4', flags.vipRangeV4, 4).cidr,
      v6: parseVipRangeFlag('--vip-range-v6', flags.vipRangeV6, 6).cidr,
    },
  };
}

export async function capture(flags: CaptureFlags): Promise<void> {
  if (flags.apply && flags.remove) throw flagError('--apply', 'with --remove', 'choose one');
  const opts = captureOptions(flags);
  if (flags.apply) return applyCapture(opts);
  if (flags.remove) return removeCapture(opts);
  process.stdout.write('# meshdns capture: remove an earlier copy (errors ignored), then install\n');
  for (const step of removalPlan(opts)) process.stdout.write(`${shellLine(step)} 2>/dev/null || true\n`);
  for (const step of capturePlan(opts)) process.stdout.write(`${shellLine(step)}\n`);
}
