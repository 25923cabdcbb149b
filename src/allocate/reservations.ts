// The user's addresses (spec.addresses, CIDRs included) of one family: they win over any VIP
// (SPEC §5), so allocation asks "is this address the user's" for every address it hands out.
import type { ServiceEntry } from '../model/index.js';
import { type AddressBlock, blockOf, type Family } from './range.js';

/** Sorted disjoint blocks, so that a lookup is a binary search rather than a scan of every user address. */
export class Reservations {
  readonly #starts: bigint[] = [];
  readonly #ends: bigint[] = [];
  readonly #owners: string[] = [];

  constructor(blocks: { block: AddressBlock; owner: string }[]) {
    blocks.sort((a, b) => (a.block.start < b.block.start ? -1 : a.block.start > b.block.start ? 1 : 0));
    for (const { block, owner } of blocks) {
      const last = this.#ends.length - 1;
      // Overlapping blocks merge; the first owner names the merged block.
      if (last >= 0 && block.start <= this.#ends[last]! + 1n) {
        if (block.end > this.#ends[last]!) this.#ends[last] = block.end;
        continue;
      }
      this.#starts.push(block.start);
      this.#ends.push(block.end);
      this.#owners.push(owner);
    }
  }

  /** The block holding `v`, if any. */
  find(v: bigint): { end: bigint; owner: string } | undefined {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid]! <= v) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && v <= this.#ends[hi]! ? { end: this.#ends[hi]!, owner: this.#owners[hi]! } : undefined;
  }
}

export function reservationOwner(se: ServiceEntry, address: string): string {
  return `in spec.addresses (${address}) of ServiceEntry ${se.meta.namespace}/${se.meta.name}`;
}

export function userReservations(entries: readonly ServiceEntry[], family: Family): Reservations {
  const blocks: { block: AddressBlock; owner: string }[] = [];
  for (const se of entries) {
    for (const a of se.addresses) {
      const block = blockOf(a);
      if (block && block.family === family) blocks.push({ block, owner: reservationOwner(se, a) });
    }
  }
  return new Reservations(blocks);
}

/**
 * The first address from `from` to `last` that no user reserves and no one holds, and where the next
 * search may start (reserved blocks are skipped whole, by binary search).
 */
export function firstFree(
  from: bigint,
  last: bigint,
  reserved: Reservations,
  used: { has(v: bigint): boolean },
): { free?: bigint; next: bigint } {
  let v = from;
  while (v <= last) {
    const user = reserved.find(v);
    if (user) v = user.end + 1n;
    else if (used.has(v)) v++;
    else return { free: v, next: v };
  }
  return { next: v };
}
