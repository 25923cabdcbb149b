// Per-name VIPs (issue 14 item 5): the copies of entries the allocator and the table builders are given
// besides the snapshot's own entries, one per name asked under a per-name wildcard (allocate/per-name.ts).
// Shared by `serve`'s view (live.ts) and the cluster controller's views (mesh-views.ts).
import { entryName, type PerNameHosts } from '../allocate/index.js';
import type { Resource, ServiceEntry } from '../model/index.js';
import { isEntry } from './givers.js';

export class PerNameCopies {
  readonly #names: PerNameHosts;
  /** The copies given, by entry `namespace/name`, then by name. */
  readonly #copies = new Map<string, Map<string, ServiceEntry>>();
  /** The same, every one. */
  readonly #all = new Set<ServiceEntry>();

  constructor(names: PerNameHosts) {
    this.#names = names;
  }

  /** Every copy given now. */
  get all(): ReadonlySet<ServiceEntry> {
    return this.#all;
  }

  get size(): number {
    return this.#all.size;
  }

  /**
   * The snapshot's change with the copies': an entry removed takes its copies with it, one added or
   * edited brings its own, and each name that came or went since is one copy in or out. `entries`: the
   * snapshot's entries by namespace/name, after the change.
   */
  withCopies(
    entries: ReadonlyMap<string, ServiceEntry>,
    removed: Resource[],
    added: Resource[],
  ): { removed: Resource[]; added: Resource[] } {
    const names = this.#names;
    if (!names.active) return { removed, added };
    const out = { removed: [...removed], added: [...added] };
    const whole = new Set<string>();
    for (const r of [...removed, ...added]) if (isEntry(r)) whole.add(entryName(r));
    for (const key of whole) this.#regive(entries.get(key), key, undefined, out);
    for (const [key, changed] of names.takeChanged())
      if (!whole.has(key)) this.#regive(entries.get(key), key, changed, out);
    return out;
  }

  /** What entry `key` was given against what it holds now: the names `only`, or every one. */
  #regive(
    se: ServiceEntry | undefined,
    key: string,
    only: ReadonlySet<string> | undefined,
    out: { removed: Resource[]; added: Resource[] },
  ): void {
    const names = this.#names;
    const given = this.#copies.get(key) ?? new Map<string, ServiceEntry>();
    const check = only ?? new Set([...given.keys(), ...(se ? names.names(se) : [])]);
    for (const name of check) {
      const before = given.get(name);
      const after = se && names.copy(se, name);
      if (before === after) continue;
      if (before !== undefined) {
        out.removed.push(before);
        this.#all.delete(before);
        given.delete(name);
      }
      if (after !== undefined) {
        out.added.push(after);
        this.#all.add(after);
        given.set(name, after);
      }
    }
    if (given.size > 0) this.#copies.set(key, given);
    else this.#copies.delete(key);
  }
}
