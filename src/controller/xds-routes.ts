// The VIP proxy's routes as the controller sends them (meshdns.v1.VipRoutes), kept encoded per host:
// a host's routes are encoded once when its VIPs or its entry change, shared by every view, and each
// view's message is the concatenation of the hosts it may see (repeated fields concatenate), so an
// edit costs the hosts it touched, not every route of the mesh for every view.
import { type Allocation, allocationKey, type HostVips } from '../allocate/index.js';
import type { ServiceEntry } from '../model/index.js';
import { visibleTo } from '../nametable/index.js';
import {
  DigestSum,
  digestHex,
  encodeVipRoutes,
  partDigest,
  VIP_ROUTES_TYPE_URL,
  type XdsResource,
  type XdsVipRoute,
} from '../xds/index.js';
import { hostRoutes } from './routes.js';
import type { NamedSink } from './xds-table.js';

interface HostRoutes {
  host: HostVips;
  bytes: Uint8Array;
  digest: [number, number];
  /** The key's delta xDS resource and its version (the digest in hex). */
  resource: XdsResource;
  version: string;
}

/** Every served host's encoded routes, by allocation key. */
export class RouteSet {
  readonly #byKey = new Map<string, HostRoutes>();

  get(key: string): HostRoutes | undefined {
    return this.#byKey.get(key);
  }

  keys(): IterableIterator<string> {
    return this.#byKey.keys();
  }

  /** Re-reads the hosts of `keys` ('all': every host) from the allocation; returns the keys that changed. */
  update(allocation: Allocation, keys: Iterable<string> | 'all'): Set<string> {
    const changed = new Set<string>();
    const todo =
      keys === 'all' ? new Set([...this.#byKey.keys(), ...allocation.hosts.map(keyOf)]) : new Set(keys);
    for (const key of todo) {
      const h = allocation.host(key);
      const routes = h && allocation.vips(h.entry, h.host) ? (hostRoutes(h) as XdsVipRoute[]) : [];
      const old = this.#byKey.get(key);
      if (routes.length === 0) {
        if (old) {
          this.#byKey.delete(key);
          changed.add(key);
        }
        continue;
      }
      const bytes = encodeVipRoutes(routes);
      if (old && Buffer.compare(old.bytes, bytes) === 0 && sameVisibility(old.host.entry, h!.entry)) {
        // The same routes seen by the same namespaces (a status read back): only the objects are new.
        old.host = h!;
        continue;
      }
      const digest = partDigest(bytes);
      this.#byKey.set(key, {
        host: h!,
        bytes,
        digest,
        resource: { typeUrl: VIP_ROUTES_TYPE_URL, value: bytes },
        version: digestHex(digest),
      });
      changed.add(key);
    }
    return changed;
  }
}

const keyOf = (h: HostVips) => allocationKey(h.namespace, h.name, h.host);

/** What decides which views hold a host's routes (visibleTo). */
function sameVisibility(a: ServiceEntry, b: ServiceEntry): boolean {
  return (
    a === b ||
    (a.meta.namespace === b.meta.namespace &&
      a.exportTo.length === b.exportTo.length &&
      a.exportTo.every((x, i) => x === b.exportTo[i]))
  );
}

/** One view's routes: the hosts of the set its namespace may see. */
export class ViewRoutes {
  readonly #included = new Map<string, [number, number]>();
  readonly #sum = new DigestSum();

  constructor(
    private readonly namespace: string,
    private readonly sink?: NamedSink,
  ) {}

  get version(): string {
    return this.#sum.hex;
  }

  /** Follows the keys that changed in `set`; true when this view's routes changed. */
  apply(set: RouteSet, keys: Iterable<string>): boolean {
    const before = this.version;
    for (const key of keys) {
      const old = this.#included.get(key);
      if (old) {
        this.#sum.toggle(old);
        this.#included.delete(key);
      }
      const now = set.get(key);
      if (now && visibleTo(now.host.entry, this.namespace)) {
        this.#sum.toggle(now.digest);
        this.#included.set(key, now.digest);
        this.sink?.set(key, now.resource, now.version);
      } else if (old) this.sink?.remove(key);
    }
    return this.version !== before;
  }

  resource(set: RouteSet): XdsResource {
    const parts = [...this.#included.keys()].map((k) => set.get(k)!.bytes);
    return { typeUrl: VIP_ROUTES_TYPE_URL, value: Buffer.concat(parts) };
  }
}
