// Paired families (issue 14 item 4): a host's new VIPs are the nth IPv4 and the nth IPv6 address of the
// ranges, the same n, so that whoever holds 240.240.0.7 also holds 2001:2::7 and the two families never
// name two different hosts. A host that kept one family (status.addresses, a state file) gets the other
// at the same index when it is free, else the lowest free one: what it kept never changes.
import type { Family, VipRange } from './range.js';

/** What pairing needs of one family's pool (the one-shot Pool and the incremental FreePool). */
export interface PairPool {
  readonly range: VipRange;
  contains(v: bigint): boolean;
  isFree(v: bigint): boolean;
  /** The lowest free address. */
  lowest(): bigint | undefined;
  /** The lowest free address at or above `from`. */
  nextFree(from: bigint): bigint | undefined;
}

/**
 * New addresses for the `missing` families of a host that holds `kept` (the other family, if any): each
 * family's address, or the family that has none left to give.
 */
export function newAddresses(
  pools: Record<Family, PairPool>,
  missing: readonly Family[],
  kept: Partial<Record<Family, bigint>>,
): Partial<Record<Family, bigint>> | Family {
  if (missing.length === 2) return lowestPair(pools[4], pools[6]);
  const f = missing[0]!;
  const other: Family = f === 4 ? 6 : 4;
  const pool = pools[f];
  const keptValue = kept[other];
  if (keptValue !== undefined) {
    const twin = pool.range.first + (keptValue - pools[other].range.first);
    if (pool.contains(twin) && pool.isFree(twin)) return { [f]: twin };
  }
  const v = pool.lowest();
  return v === undefined ? f : { [f]: v };
}

/**
 * The lowest index n where both the nth IPv4 and the nth IPv6 address are free: each family in turn moves
 * n up to its next free address until both agree. Nothing is freed while it runs, so it ends.
 */
function lowestPair(p4: PairPool, p6: PairPool): { 4: bigint; 6: bigint } | Family {
  const a = p4.lowest();
  if (a === undefined) return 4;
  const b = p6.lowest();
  if (b === undefined) return 6;
  let n = a - p4.range.first;
  if (b - p6.range.first > n) n = b - p6.range.first;
  for (;;) {
    const x = p4.nextFree(p4.range.first + n);
    if (x === undefined) return 4;
    n = x - p4.range.first;
    const y = p6.nextFree(p6.range.first + n);
    if (y === undefined) return 6;
    if (y - p6.range.first === n) return { 4: x, 6: y };
    n = y - p6.range.first;
  }
}
