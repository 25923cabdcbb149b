// Flag parsers for the workload and the VIP ranges, apart from flags.ts so that commands which take no
// such flag (lookup, explain) do not load them. The range parser is imported on its own, not through
// the allocator's index, which loads the model (zod): serve reads these on the thread that answers DNS.
import { type Family, parseVipRange, type VipRange } from '../allocate/range.js';
import { isDnsLabel } from '../dns/index.js';
import { flagError } from './flags.js';

// A Kubernetes object name (RFC 1123 subdomain): what Pods, Deployments and StatefulSets are called.
const OBJECT_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/** "payments/checkout": the workload's namespace and name. */
export function parseWorkloadRef(flag: string, value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split('/');
  if (!namespace || !name || rest.length > 0)
    throw flagError(flag, value, 'expected NAMESPACE/NAME, e.g. payments/checkout');
  if (!isDnsLabel(namespace)) throw flagError(flag, value, `"${namespace}" is not a namespace name`);
  if (!OBJECT_NAME.test(name)) throw flagError(flag, value, `"${name}" is not a Kubernetes object name`);
  return { namespace, name };
}

export function parseVipRangeFlag(flag: string, value: string, family: Family): VipRange {
  const range = parseVipRange(value, family);
  if (typeof range === 'string') throw flagError(flag, value, range);
  return range;
}
