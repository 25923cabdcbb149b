// The controller's own status writes come back through the source as changed ServiceEntries (the
// informer sees every PATCH of status.addresses). Such a change moves no VIP and no name: the status now
// says what the allocation already holds. Telling it apart lets the pacing treat it as not urgent, so a
// storm of them (the first sync of 10,000 entries) neither delays nor multiplies the builds agents wait for.
import { type Allocation, allocationKey, type HostVips } from '../allocate/index.js';
import type { ServiceEntry } from '../model/index.js';
import type { BuildDelta } from '../sources/index.js';
import { desiredAddresses, sameAddresses } from './kube/index.js';
import { sameSpec } from './status-only.js';

/**
 * True when every object in `delta` is a ServiceEntry replaced by a copy that differs only in
 * `status.addresses`, and the new status is what `allocation` gives that entry.
 */
export function isStatusEcho(delta: BuildDelta | undefined, allocation: Allocation | undefined): boolean {
  if (!delta || !allocation || delta.added.length === 0) return false;
  if (delta.added.length !== delta.removed.length) return false;
  const before = new Map<string, ServiceEntry>();
  for (const r of delta.removed) {
    if (r.kind !== 'ServiceEntry') return false;
    before.set(keyOf(r), r);
  }
  try {
    return delta.added.every((r) => {
      if (r.kind !== 'ServiceEntry') return false;
      const old = before.get(keyOf(r));
      return old !== undefined && sameSpec(old, r) && holds(allocation, r);
    });
  } catch {
    // An allocation that moved on cannot answer (MESHDNS_ALLOCATION_STALE): treat the change as real.
    return false;
  }
}

const keyOf = (r: ServiceEntry) => `${r.meta.namespace}/${r.meta.name}`;

function holds(allocation: Allocation, se: ServiceEntry): boolean {
  const hosts: HostVips[] = [];
  for (const host of se.hosts) {
    const h = allocation.host(allocationKey(se.meta.namespace, se.meta.name, host));
    if (h) hosts.push(h);
  }
  // Per-name names (issue 14 item 5) are in status with `host` the name.
  for (const a of se.statusAddresses) {
    if (se.hosts.includes(a.host) || hosts.some((h) => h.host === a.host)) continue;
    const h = allocation.host(allocationKey(se.meta.namespace, se.meta.name, a.host));
    if (h?.entry.perNameOf !== undefined) hosts.push(h);
  }
  return sameAddresses(desiredAddresses(hosts), se.statusAddresses);
}
