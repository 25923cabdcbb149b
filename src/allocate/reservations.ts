// The user's addresses (spec.addresses, CIDRs included) of one family: they win over any VIP
// (SPEC §5), so allocation asks "is this address the user's" for every address it hands out.
import type { ServiceEntry } from '../model/index.js';
import { type AddressBlock, blockOf, type Family, type VipRange } from './range.js';

/** Sorted disjoint blocks, so that a lookup is a binary search rather than a scan of every user address. */
export class Reservations {
  readonly #starts: bigint[] = [];
  readonly #ends: bigint[] = [];
  readonly #owners: string[] = [];
  /** Per block: another owner's block starts at the same address, so the name depends on input order. */
  readonly #tied: boolean[] = [];

  constructor(blocks: { block: AddressBlock; owner: string }[]) {
    blocks.sort((a, b) => (a.block.start < b.block.start ? -1 : a.block.start > b.block.start ? 1 : 0));
    for (const { block, owner } of blocks) {
      const last = this.#ends.length - 1;
      // Overlapping blocks merge; the first owner names the merged block.
      if (last >= 0 && block.start <= this.#ends[last]! + 1n) {
        if (block.end > this.#ends[last]!) this.#ends[last] = block.end;
        if (block.start === this.#starts[last] && owner !== this.#owners[last]) this.#tied[last] = true;
        continue;
      }
      this.#starts.push(block.start);
      this.#ends.push(block.end);
      this.#owners.push(owner);
      this.#tied.push(false);
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

  /**
   * The addresses whose reservations can change what `find` says inside `range`: the range widened to
   * the merged blocks that reach into it. A user block outside `lo - 1 .. hi + 1` can neither merge
   * with those nor rename them. `ordered`: a merged block there is named after one of two blocks that
   * start at the same address, i.e. after the snapshot's order of entries.
   */
  span(range: VipRange): { lo: bigint; hi: bigint; ordered: boolean } {
    let lo = range.first;
    let hi = range.last;
    let ordered = false;
    for (let i = 0; i < this.#starts.length; i++) {
      if (this.#starts[i]! > range.last || this.#ends[i]! < range.first) continue;
      if (this.#starts[i]! < lo) lo = this.#starts[i]!;
      if (this.#ends[i]! > hi) hi = this.#ends[i]!;
      ordered ||= this.#tied[i]!;
    }
    return { lo, hi, ordered };
  }
}

export function reservationOwner(se: ServiceEntry, address: string): string {
  return `in spec.addresses (${address}) of ServiceEntry ${se.meta.namespace}/${se.meta.name}`;
}

export function userReservations(entries: readonly ServiceEntry[], family: Family): Reservations {
  return new Reservations(
    entries.flatMap((se) =>
      se.addresses.flatMap((a) => {
        const block = blockOf(a);
        return block && block.family === family ? [{ block, owner: reservationOwner(se, a) }] : [];
      }),
    ),
  );
}
