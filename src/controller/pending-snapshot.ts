// The source's snapshots that arrived since the last build, folded into one: the latest resources and
// the change from the snapshot built last, so a build that takes several snapshots at once still costs
// what they touched (GiverSet trusts a delta only when it starts at the snapshot it took last).
import type { MeshdnsError } from '../errors.js';
import type { Resource, Resources } from '../model/index.js';
import type { SnapshotChange } from '../sources/index.js';

export interface TakenSnapshot {
  snapshot: Resources;
  errors: MeshdnsError[];
  failedFiles: ReadonlySet<string>;
  change: SnapshotChange;
}

export class PendingSnapshot {
  #latest: TakenSnapshot | undefined;
  /** The delta so far: from `base` to the latest; undefined once a snapshot came without one that follows. */
  #base: number | undefined;
  #removed = new Set<Resource>();
  #added = new Set<Resource>();
  #chained = true;

  get empty(): boolean {
    return this.#latest === undefined;
  }

  add(taken: TakenSnapshot): void {
    const delta = taken.change.delta;
    const previous = this.#latest;
    this.#latest = taken;
    if (!delta || (previous && delta.base !== previous.change.seq)) this.#chained = false;
    if (!this.#chained || !delta) return;
    this.#base ??= delta.base;
    // An object that came and left between two builds was never seen: it cancels out.
    for (const r of delta.removed) if (!this.#added.delete(r)) this.#removed.add(r);
    for (const r of delta.added) this.#added.add(r);
  }

  /** Everything since the last take, as one snapshot; undefined when nothing came. */
  take(): TakenSnapshot | undefined {
    const latest = this.#latest;
    if (!latest) return undefined;
    const merged: TakenSnapshot =
      this.#chained && this.#base !== undefined
        ? {
            ...latest,
            change: {
              seq: latest.change.seq,
              delta: { base: this.#base, removed: [...this.#removed], added: [...this.#added] },
            },
          }
        : { ...latest, change: { seq: latest.change.seq } };
    this.#latest = undefined;
    this.#base = undefined;
    this.#removed = new Set();
    this.#added = new Set();
    this.#chained = true;
    return merged;
  }
}
