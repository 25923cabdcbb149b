// The agent's copy of what it holds of each type, by resource name, decoded. A response (delta: some
// names set and removed; state-of-the-world: the whole type as one resource named "") is decoded whole
// first, handed to the type's handler as a change, and taken into the copy only when the handler
// accepted it: a resource that does not decode, or a handler that throws, leaves the copy as it was.
import { MeshdnsError } from '../errors.js';
import { decodeWorkloadConfig, workloadConfigFromResources } from './config-codec.js';
import type { DeltaResource } from './delta-messages.js';
import { decodeNameTable, nameTableFromResources } from './nametable-codec.js';
import type { XdsNameInfo, XdsNameTable, XdsResource, XdsVipRoute, XdsWorkloadConfig } from './types.js';
import { decodeVipRoutes, vipRoutesFromResources } from './vip-codec.js';

/** Returning (or resolving) accepts the update; throwing (or rejecting) NACKs it with the error's message. */
export type XdsHandler<T> = (update: T, version: string) => void | Promise<void>;

/** Hosts set (new or changed) and hosts gone, in one update of the name table. */
export type XdsNameTableDelta = (
  set: [string, XdsNameInfo][],
  removed: string[],
  version: string,
) => void | Promise<void>;

interface Held<T> {
  version: string;
  value: T;
}

/** One update of a type, decoded, before it is taken. */
export interface Change<T> {
  set: [string, Held<T>][];
  removed: string[];
}

/** How one type is decoded and handed over. */
export interface TypeCodec<T> {
  /** One named resource (delta). */
  decode(resource: XdsResource): T;
  /** A whole state-of-the-world response. */
  decodeAll(resources: readonly XdsResource[]): T;
  /** Hands a change to the handler; `before` is what the agent holds, `after` what it will hold. */
  deliver(
    change: Change<T>,
    before: ReadonlyMap<string, Held<T>>,
    after: () => Iterable<T>,
    version: string,
  ): void | Promise<void>;
}

export class HeldResources<T> {
  readonly held = new Map<string, Held<T>>();

  constructor(
    readonly typeUrl: string,
    private readonly codec: TypeCodec<T>,
  ) {}

  /** Name → version of everything held: initial_resource_versions on a reconnect. */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, h] of this.held) out[name] = h.version;
    return out;
  }

  /** Decodes a delta response; throws (NACK) on the first resource that does not decode. */
  deltaChange(resources: readonly DeltaResource[], removed: readonly string[]): Change<T> {
    const set = resources.map((r): [string, Held<T>] => {
      if (r.resource.typeUrl !== this.typeUrl) {
        throw new MeshdnsError(
          'MESHDNS_XDS_INVALID',
          `resource ${r.name}: type ${r.resource.typeUrl}, expected ${this.typeUrl}`,
        );
      }
      // The codecs' messages name the host or route at fault, which is what an operator reads.
      return [r.name, { version: r.version, value: this.codec.decode(r.resource) }];
    });
    return { set, removed: removed.filter((n) => this.held.has(n)) };
  }

  /** A state-of-the-world response replaces everything held with one resource named "". */
  sotwChange(resources: readonly XdsResource[], version: string): Change<T> {
    const value = this.codec.decodeAll(resources);
    return { set: [['', { version, value }]], removed: [...this.held.keys()].filter((n) => n !== '') };
  }

  async take(change: Change<T>, version: string): Promise<void> {
    const changed = new Set([...change.set.map(([n]) => n), ...change.removed]);
    const after = () => afterValues(this.held, changed, change.set);
    await this.codec.deliver(change, this.held, after, version);
    for (const name of change.removed) this.held.delete(name);
    for (const [name, h] of change.set) this.held.set(name, h);
  }
}

function* afterValues<T>(
  held: ReadonlyMap<string, Held<T>>,
  changed: ReadonlySet<string>,
  set: readonly [string, Held<T>][],
): Iterable<T> {
  for (const [name, h] of held) if (!changed.has(name)) yield h.value;
  for (const [, h] of set) yield h.value;
}

/** The name table: each resource a table (one host per resource from meshdns, all of them from Istio). */
export function nameTableCodec(handlers: {
  onNameTableDelta?: XdsNameTableDelta;
  onNameTable?: XdsHandler<XdsNameTable>;
}): TypeCodec<XdsNameTable> {
  return {
    decode: (r) => decodeNameTable(r.value),
    decodeAll: nameTableFromResources,
    deliver(change, before, after, version) {
      if (handlers.onNameTableDelta) {
        const set: [string, XdsNameInfo][] = change.set.flatMap(([, h]) => [...h.value]);
        const kept = new Set(set.map(([host]) => host));
        const gone = [...change.removed, ...change.set.map(([n]) => n)].flatMap((n) => [
          ...(before.get(n)?.value.keys() ?? []),
        ]);
        const removed = [...new Set(gone)].filter((host) => !kept.has(host));
        return handlers.onNameTableDelta(set, removed, version);
      }
      const table = new Map<string, XdsNameInfo>();
      for (const part of after()) for (const [host, info] of part) table.set(host, info);
      return handlers.onNameTable?.(table, version);
    },
  };
}

/** The VIP routes: every resource's routes together, handed over whole (the VIP proxy takes a full list). */
export function vipRoutesCodec(onVipRoutes: XdsHandler<XdsVipRoute[]>): TypeCodec<XdsVipRoute[]> {
  return {
    decode: (r) => decodeVipRoutes(r.value),
    decodeAll: vipRoutesFromResources,
    deliver: (_change, _before, after, version) => onVipRoutes([...after()].flat(), version),
  };
}

/** The workload's settings: one resource; an update that does not set it changes nothing. */
export function workloadConfigCodec(
  onWorkloadConfig: XdsHandler<XdsWorkloadConfig>,
): TypeCodec<XdsWorkloadConfig> {
  return {
    decode: (r) => decodeWorkloadConfig(r.value),
    decodeAll: workloadConfigFromResources,
    deliver(change, _before, _after, version) {
      const last = change.set.at(-1);
      if (last) return onWorkloadConfig(last[1].value, version);
    },
  };
}
