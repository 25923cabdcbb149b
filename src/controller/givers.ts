// The objects of a snapshot that give names (Services, endpoints, ServiceEntries), followed by object
// identity: the sources hand back the same objects for what did not change, so a new snapshot is
// compared with the last in proportion to the edit.
import type { Resource, Resources, ServiceEntry } from '../model/index.js';
import { nameGivers } from '../nametable/index.js';
import type { SnapshotChange } from '../sources/index.js';

export interface GiverChange {
  removed: Resource[];
  added: Resource[];
}

export class GiverSet {
  #givers = new Set<Resource>();
  /** The source's number of the snapshot last taken: a delta from it can be trusted. */
  #seq: number | undefined;

  /** Everything now, for a builder made from scratch. */
  get all(): ReadonlySet<Resource> {
    return this.#givers;
  }

  /**
   * The objects that left and came: from the source's delta when it follows the snapshot taken last
   * (an edit costs what it touched), else by comparing the two snapshots whole.
   */
  take(res: Resources, change: SnapshotChange | undefined): GiverChange {
    const delta = change?.delta;
    const trusted = delta !== undefined && this.#seq !== undefined && delta.base === this.#seq;
    this.#seq = change?.seq;
    if (trusted) {
      const removed = delta.removed.filter((r) => this.#givers.delete(r));
      const added = delta.added.filter(isGiver);
      for (const r of added) this.#givers.add(r);
      return { removed, added };
    }
    const givers = new Set<Resource>(nameGivers(res));
    const removed = [...this.#givers].filter((r) => !givers.has(r));
    const added = [...givers].filter((r) => !this.#givers.has(r));
    this.#givers = givers;
    return { removed, added };
  }
}

function isGiver(r: Resource): boolean {
  return (
    r.kind === 'Service' || r.kind === 'ServiceEntry' || r.kind === 'EndpointSlice' || r.kind === 'Endpoints'
  );
}

export function isEntry(r: Resource): r is ServiceEntry {
  return r.kind === 'ServiceEntry';
}
