// Scanning a big folder must not hold the event loop (issue 8 finding 8): fs calls go through a
// bounded pool, and CPU work (listing, hashing, parsing) runs in slices of a few ms with a turn of
// the event loop between them.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { SLICE_MS } from './tuning.js';

export class Pacer {
  #sliceStart = performance.now();
  #turn: Promise<void> | undefined;

  /** The current slice is used up: `pace()` would wait. A loop over 50,000 items asks this instead of awaiting each. */
  due(): boolean {
    return performance.now() - this.#sliceStart >= SLICE_MS;
  }

  /**
   * Resolves at once inside the current slice, else after a turn of the event loop. Waiters resume
   * in order and each re-checks, so however many are waiting, one turn runs about one slice of work.
   */
  async pace(): Promise<void> {
    while (performance.now() - this.#sliceStart >= SLICE_MS) {
      this.#turn ??= nextTurn().then(() => {
        this.#turn = undefined;
        this.#sliceStart = performance.now();
      });
      await this.#turn;
    }
  }
}

/** Runs `fn` on every item, at most `limit` at a time. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
