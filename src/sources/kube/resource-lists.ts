// The snapshot's lists kept from one build to the next and patched per event, so a batch of events costs
// what it changed, not a walk of every object (the controller's own status writes come back as 10,000
// events; a walk of 15,000 objects for each was a fifth of its CPU). Each key holds a rank given when it
// arrived, and each list stays sorted by rank: the order a walk of the objects in arrival order gives.
// A list handed out in a snapshot is never changed again; the next change to it works on a copy.
import { emptyResources, type Resource, type Resources } from '../../model/index.js';

type ListName = keyof Resources;

/** Which list of a snapshot a resource goes to: toResources' grouping. */
function listOf(r: Resource): ListName {
  switch (r.kind) {
    case 'Service':
      return 'services';
    case 'EndpointSlice':
    case 'Endpoints':
      return 'endpoints';
    case 'ServiceEntry':
      return 'serviceEntries';
    case 'Namespace':
      return 'namespaces';
    case 'MeshConfig':
    case 'KymaIstio':
      return 'mesh';
    default:
      return 'workloads';
  }
}

/** One list: the resources (what a snapshot hands out) and, beside them, each one's rank. */
interface RankedList {
  ranks: number[];
  items: Resource[];
}

export class ResourceLists {
  readonly #lists = new Map<ListName, RankedList>();
  /** Lists whose `items` array was handed out since it last changed: copied before the next change. */
  readonly #shared = new Set<ListName>();

  /** Puts `now` in the place of `was` (either may be undefined) for the key of rank `rank`. */
  replace(rank: number, was: Resource | undefined, now: Resource | undefined): void {
    if (was === now) return;
    if (was && now && listOf(was) === listOf(now)) {
      const list = this.#writable(listOf(now));
      list.items[this.#find(list, rank)] = now;
      return;
    }
    if (was) {
      const list = this.#writable(listOf(was));
      const at = this.#find(list, rank);
      list.ranks.splice(at, 1);
      list.items.splice(at, 1);
    }
    if (now) {
      const list = this.#writable(listOf(now));
      const at = insertionPoint(list.ranks, rank);
      list.ranks.splice(at, 0, rank);
      list.items.splice(at, 0, now);
    }
  }

  /** The lists now. A list unchanged since the last call is the same array as then. */
  resources(): Resources {
    const out = emptyResources();
    for (const [name, list] of this.#lists) {
      (out[name] as Resource[]) = list.items;
      this.#shared.add(name);
    }
    return out;
  }

  #writable(name: ListName): RankedList {
    let list = this.#lists.get(name);
    if (!list) {
      list = { ranks: [], items: [] };
      this.#lists.set(name, list);
    } else if (this.#shared.delete(name)) {
      // A snapshot holds this array: one copy (a memory copy of pointers) for all changes until the next.
      list.items = list.items.slice();
    }
    return list;
  }

  /** Index of the entry of `rank`, which must be there. */
  #find(list: RankedList, rank: number): number {
    const at = insertionPoint(list.ranks, rank);
    if (list.ranks[at] !== rank) throw new Error(`ResourceLists: no entry of rank ${rank}`);
    return at;
  }
}

/** First index whose rank is ≥ `rank`; new keys have the highest rank, so usually the end. */
function insertionPoint(ranks: number[], rank: number): number {
  let lo = 0;
  let hi = ranks.length;
  if (hi > 0 && ranks[hi - 1]! < rank) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranks[mid]! < rank) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
