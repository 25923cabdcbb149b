// The user's addresses (spec.addresses, CIDRs included) of one family: they win over any VIP
// (SPEC §5), so allocation asks "is this address the user's" for every address it hands out.
import type { ServiceEntry } from '../model/index.js';
import { type AddressBlock, blockOf, type Family } from './range.js';

/** Who reserves a block: the message is made only when a lookup finds it (most never are). */
type Owner = string | { se: ServiceEntry; address: string };

/** Sorted disjoint blocks, so that a lookup is a binary search rather than a scan of every user address. */
export class Reservations {
  readonly #starts: bigint[] = [];
  readonly #ends: bigint[] = [];
  readonly #owners: Owner[] = [];

  constructor(blocks: { block: AddressBlock; owner: Owner }[]) {
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
    if (hi < 0 || v > this.#ends[hi]!) return undefined;
    const owner = this.#owners[hi]!;
    return {
      end: this.#ends[hi]!,
      owner: typeof owner === 'string' ? owner : reservationOwner(owner.se, owner.address),
    };
  }
}

export function reservationOwner(se: ServiceEntry, address: string): string {
  return `in spec.addresses (${address}) of ServiceEntry ${se.meta.namespace}/${se.meta.name}`;
}

export function userReservations(entries: readonly ServiceEntry[], family: Family): Reservations {
  const blocks: { block: AddressBlock; owner: Owner }[] = [];
  for (const se of entries) {
    for (const a of se.addresses) {
      // Only IPv6 has a colon: the other family's addresses are not parsed at all.
      if (a.includes(':') !== (family === 6)) continue;
      const block = blockOf(a);
      if (block && block.family === family) blocks.push({ block, owner: { se, address: a } });
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
