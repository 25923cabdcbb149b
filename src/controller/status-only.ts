// A ServiceEntry replaced by a copy that differs only in `status.addresses` (the controller's own writes
// read back, 10,000 of them at start-up, or another replica's): nothing the name tables hold changes.
import type { Resource, ServiceEntry } from '../model/index.js';

/**
 * The ServiceEntries of a change replaced by copies that differ only in `status.addresses`, paired, and
 * the rest of the change. Status gives no name: the name tables read VIPs from the allocation, and any
 * VIP that moved is reported by the allocator on its own. So a pair is nothing for a view to derive again,
 * whoever wrote the status; the allocator still takes the copy whole.
 */
export function splitStatusOnly(
  removed: readonly Resource[],
  added: readonly Resource[],
): { replaced: [ServiceEntry, ServiceEntry][]; removed: Resource[]; added: Resource[] } {
  const gone = new Map<string, ServiceEntry>();
  for (const r of removed) if (r.kind === 'ServiceEntry') gone.set(keyOf(r), r);
  if (gone.size === 0) return { replaced: [], removed: [...removed], added: [...added] };
  const replaced: [ServiceEntry, ServiceEntry][] = [];
  const paired = new Set<Resource>();
  for (const r of added) {
    if (r.kind !== 'ServiceEntry') continue;
    const old = gone.get(keyOf(r));
    if (old === undefined || paired.has(old) || !sameSpec(old, r)) continue;
    replaced.push([old, r]);
    paired.add(old).add(r);
  }
  if (replaced.length === 0) return { replaced, removed: [...removed], added: [...added] };
  return {
    replaced,
    removed: removed.filter((r) => !paired.has(r)),
    added: added.filter((r) => !paired.has(r)),
  };
}

const keyOf = (r: ServiceEntry) => `${r.meta.namespace}/${r.meta.name}`;

/** Everything but the status: the same hosts, ports, labels, source place… */
export function sameSpec(a: ServiceEntry, b: ServiceEntry): boolean {
  const { statusAddresses: _a, ...restA } = a;
  const { statusAddresses: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}
