// VIP hold-back (issue 14 item 4). A client may still hold an answer naming a VIP after the host stops
// being answered with it (a deleted entry, one that became ineligible): Istio hands such a VIP to the next
// new entry at once, so a connection meant for database A reaches database B. Here a VIP no host keeps
// any more is held back — reserved for no one — until `holdbackMs` after it was last answered.
import { type Family, ipToBigInt } from './range.js';

/** A VIP pair no host may take yet, and whose it was (for `meshdns vips` and the logs). */
export interface HeldBackVip {
  namespace: string;
  name: string;
  host: string;
  v4?: string;
  v6?: string;
  /** ISO time since which the VIPs are no longer answered: the hold-back counts from here. */
  since: string;
}

/** What a hold-back step needs of one family's pool (the one-shot Pool and the incremental FreePool). */
export interface HoldbackPool {
  contains(v: bigint): boolean;
  /** Neither used by a host (present, held or held back) nor the user's. */
  isFree(v: bigint): boolean;
}

const FAMILIES = [4, 6] as const;
const field = (f: Family) => (f === 4 ? 'v4' : 'v6');
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Whether addresses last answered at `since` are still held back at `now`. */
export function stillHeldBack(since: string, now: number, holdbackMs: number): boolean {
  return now - Date.parse(since) < holdbackMs;
}

/** The time the hold-back ends, in milliseconds since the epoch. */
export function holdbackEnd(h: HeldBackVip, holdbackMs: number): number {
  return Date.parse(h.since) + holdbackMs;
}

/**
 * Holds back the addresses of `from` (a record or an earlier hold-back) that lie in the ranges and that no
 * one holds: `take` puts each in its pool. Undefined when none is left to hold.
 */
export function holdBackFree(
  from: { namespace: string; name: string; host: string; v4?: string; v6?: string },
  since: string,
  pools: Record<Family, HoldbackPool>,
  take: (f: Family, v: bigint, entry: HeldBackVip) => void,
): HeldBackVip | undefined {
  const entry: HeldBackVip = { namespace: from.namespace, name: from.name, host: from.host, since };
  const taken: [Family, bigint][] = [];
  for (const f of FAMILIES) {
    const value = from[field(f)];
    if (value === undefined) continue;
    const v = ipToBigInt(value);
    if (!pools[f].contains(v) || !pools[f].isFree(v)) continue;
    entry[field(f)] = value;
    taken.push([f, v]);
  }
  if (taken.length === 0) return undefined;
  for (const [f, v] of taken) take(f, v, entry);
  return entry;
}

/** The order every Allocation lists them in: oldest first, then by address. */
export function sortHoldback(list: HeldBackVip[]): HeldBackVip[] {
  return list.sort(
    (a, b) => cmp(a.since, b.since) || cmp(a.v4 ?? '', b.v4 ?? '') || cmp(a.v6 ?? '', b.v6 ?? ''),
  );
}
