// The objects read from the API, each validated once as it arrives (the same validation as a manifest
// object), and snapshots of them. An unchanged object keeps its Resource object from one snapshot to the
// next, and each snapshot says what left and came since the one before, so the controller's work is in
// proportion to the change, as with the manifests folder; the snapshot's lists are patched, not rebuilt
// (resource-lists.ts).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { MeshdnsError } from '../../errors.js';
import {
  API_SOURCE_FILE,
  type ManifestObject,
  type Resource,
  type Resources,
  type SourceRef,
  toManifestObject,
  toResources,
} from '../../model/index.js';
import type { Build, BuildDelta } from '../index.js';
import type { WatchedKind } from './kinds.js';
import { ResourceLists } from './resource-lists.js';

const SOURCE: SourceRef = { file: API_SOURCE_FILE, doc: 0 };

/** `ServiceEntry/default/db`: one object across its versions. */
function keyOf(kind: WatchedKind, obj: KubernetesObject): string {
  return `${kind.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

/** What a changed key had at the last build. */
interface Before {
  resource: Resource | undefined;
  /** Its rank then (a key deleted and added again since has a new one). */
  rank: number | undefined;
}

export class KubeObjects {
  /** By key, in arrival order (a snapshot lists them so: no sort per change). */
  readonly #objects = new Map<string, ManifestObject>();
  /** Each key's place in arrival order, given when it enters #objects. */
  readonly #ranks = new Map<string, number>();
  #nextRank = 0;
  /** Keys changed since the last build, with what each had then. */
  readonly #before = new Map<string, Before>();
  /** Objects with errors, so a snapshot gathers errors without a pass over every object. */
  readonly #faulty = new Set<string>();
  readonly #lists = new ResourceLists();
  #seq = 0;

  /** Takes the object's current version; returns what was ignored (not ours), for a debug log. */
  set(kind: WatchedKind, obj: KubernetesObject): string | undefined {
    const key = keyOf(kind, obj);
    const converted = toManifestObject(obj, SOURCE);
    if ('ignored' in converted) {
      // Not ours (another apiVersion of the kind, an Istio CR of another name): as if it were not there.
      this.delete(kind, obj);
      return converted.ignored;
    }
    const prev = this.#objects.get(key);
    // An invalid edit of an object that was valid keeps its last good version (as a manifest file
    // does): a typo in a ServiceEntry must not drop its names or free its VIPs. A new invalid one stays out.
    const next =
      !converted.resource && prev?.resource ? { ...converted, resource: prev.resource } : converted;
    this.#remember(key, prev);
    if (!prev) this.#ranks.set(key, this.#nextRank++);
    this.#objects.set(key, next);
    if (next.errors.length > 0) this.#faulty.add(key);
    else this.#faulty.delete(key);
    return undefined;
  }

  delete(kind: WatchedKind, obj: KubernetesObject): void {
    const key = keyOf(kind, obj);
    const prev = this.#objects.get(key);
    if (!prev) return;
    this.#remember(key, prev);
    this.#objects.delete(key);
    this.#ranks.delete(key);
    this.#faulty.delete(key);
  }

  /** Changes since the last build. */
  get dirty(): boolean {
    return this.#before.size > 0;
  }

  build(): Build {
    const errors: MeshdnsError[] = [];
    for (const key of this.#faulty) for (const e of this.#objects.get(key)!.errors) errors.push(e);
    const delta: BuildDelta = { base: this.#seq, removed: [], added: [] };
    for (const [key, was] of this.#before) {
      const now = this.#objects.get(key)?.resource;
      const rank = this.#ranks.get(key);
      if (was.rank === rank) this.#lists.replace(rank!, was.resource, now);
      else {
        // Gone and back within one batch: it leaves its old place for the end.
        if (was.rank !== undefined) this.#lists.replace(was.rank, was.resource, undefined);
        if (rank !== undefined) this.#lists.replace(rank, undefined, now);
      }
      if (was.resource === now) continue;
      if (was.resource) delta.removed.push(was.resource);
      if (now) delta.added.push(now);
    }
    this.#before.clear();
    this.#seq++;
    // The API's state is whole at every moment: nothing like a half-written file stands in for an object.
    return { seq: this.#seq, delta, resources: this.#lists.resources(), errors, failedFiles: [] };
  }

  /**
   * The reference build() is kept equal to: the valid resources of every object, walked in arrival order
   * (tests compare the two after random events).
   */
  resourcesByWalk(): Resources {
    const resources: Resource[] = [];
    for (const o of this.#objects.values()) if (o.resource) resources.push(o.resource);
    return toResources(resources);
  }

  #remember(key: string, prev: ManifestObject | undefined): void {
    if (!this.#before.has(key))
      this.#before.set(key, { resource: prev?.resource, rank: this.#ranks.get(key) });
  }
}
