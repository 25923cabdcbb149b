// One family's range for the incremental allocator: who holds what, and the lowest free address
// found without scanning from the start on every call (the one-shot allocator walks a cursor that
// only moves forward; here addresses are also freed between calls).
import type { Holder, PoolState } from './allocator.js';
import type { VipRange } from './range.js';
import { firstFree, type Reservations } from './reservations.js';
import type { Undo } from './undo.js';

export class FreePool {
  /** Address → the host (present or held) using it; only its namespace/name/host count, not its other fields. */
  readonly used: Map<bigint, Holder>;
  readonly reserved: Reservations;
  /** Every address below the hint is used, reserved, or in `#freed` (which may hold stale ones). */
  #hint: bigint;
  readonly #freed: bigint[] = [];

  /** Takes over what allocate() left (it is not used again), so nothing is parsed twice. */
  constructor(
    readonly range: VipRange,
    from: PoolState,
  ) {
    this.used = from.used;
    this.reserved = from.reserved;
    this.#hint = from.next;
  }

  contains(v: bigint): boolean {
    return this.range.first <= v && v <= this.range.last;
  }

  isReserved(v: bigint): boolean {
    return this.reserved.find(v) !== undefined;
  }

  isFree(v: bigint): boolean {
    return !this.used.has(v) && !this.isReserved(v);
  }

  take(v: bigint, holder: Holder, undo: Undo[]): void {
    const before = this.used.get(v);
    this.used.set(v, holder);
    undo.push(() => (before === undefined ? this.release(v, []) : this.used.set(v, before)));
  }

  release(v: bigint, undo: Undo[]): void {
    const before = this.used.get(v);
    if (before === undefined) return;
    this.used.delete(v);
    if (v < this.#hint) heapPush(this.#freed, v);
    undo.push(() => this.used.set(v, before));
  }

  /** The lowest address neither used nor reserved, as the one-shot allocator's `peek()` finds it. */
  lowest(): bigint | undefined {
    const heap = this.#freed;
    while (heap.length > 0 && (this.used.has(heap[0]!) || this.isReserved(heap[0]!))) heapPop(heap);
    if (heap.length > 0) return heap[0];
    const { free, next } = firstFree(this.#hint, this.range.last, this.reserved, this.used);
    this.#hint = next;
    return free;
  }

  /** The lowest free address at or above `from` (a scan from there when freed ones lie below it). */
  nextFree(from: bigint): bigint | undefined {
    const low = this.lowest();
    if (low === undefined || low >= from) return low;
    return firstFree(from, this.range.last, this.reserved, this.used).free;
  }
}

// A binary min-heap of freed addresses: freeing is rare (grace expiry, opt-outs), so stale entries
// are dropped when they reach the top rather than searched for.
function heapPush(heap: bigint[], v: bigint): void {
  heap.push(v);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= v) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = v;
}

function heapPop(heap: bigint[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= heap.length) break;
    const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
    if (heap[c]! >= last) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = last;
}
