// Delta responses made once for every stream that sends the same (issue 10: 200 agents share 10 views):
// each resource's field, the whole content at a sequence (first syncs), and the step from one sequence to
// the next (the usual push). gRPC still copies each message into a frame per stream; what is shared is
// the making of it. Shared responses carry a nonce that names their content (`w` or `d` and a number no
// other response shares), never a stream's own count, so every stream can send the very same bytes.
import { encodeDeltaResponse, resourceField } from './delta-messages.js';
import type { XdsDeltaSource, XdsNamed } from './publisher.js';
import type { XdsResource } from './types.js';

/**
 * Each resource's field, encoded once: by its resource object, which views holding the same entry share
 * (controller/xds-table.ts's EntryCache), with the name and version it was encoded with.
 */
const wires = new WeakMap<XdsResource, { name: string; version: string; wire: Uint8Array }>();

export function wireOf(name: string, named: XdsNamed): Uint8Array {
  const made = wires.get(named.resource);
  if (made?.name === name && made.version === named.version) return made.wire;
  const wire = resourceField({ name, version: named.version, resource: named.resource });
  wires.set(named.resource, { name, version: named.version, wire });
  return wire;
}

export function versionsOf(source: XdsDeltaSource, wanted?: (name: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, r] of source.resources) if (!wanted || wanted(name)) out.set(name, r.version);
  return out;
}

let nonces = 0;

/**
 * A source's whole content at one sequence (agents' first sync): the versions the agent then holds, and
 * the response, encoded on first use. Encoded per stream, a whole table was one more copy per agent
 * (200 agents of a 3.4 MB table: 680 MB of buffers made at once).
 */
interface Whole {
  sequence: number;
  nonce: string;
  versions: Map<string, string>;
  message(typeUrl: string, controlPlane: string): Buffer;
}

const whole = new WeakMap<XdsDeltaSource, Whole>();

export function everything(source: XdsDeltaSource): Whole {
  let all = whole.get(source);
  if (all?.sequence !== source.sequence) {
    const parts: Uint8Array[] = [];
    for (const [name, named] of source.resources) parts.push(wireOf(name, named));
    const { version } = source;
    const nonce = `w${++nonces}`;
    let made: { key: string; bytes: Buffer } | undefined;
    all = {
      sequence: source.sequence,
      nonce,
      versions: versionsOf(source),
      message: (typeUrl, controlPlane) => {
        const key = `${typeUrl}\0${controlPlane}`;
        if (made?.key !== key) {
          const res = { systemVersionInfo: version, typeUrl, nonce, resources: [], removedResources: [] };
          made = { key, bytes: encodeDeltaResponse({ ...res, controlPlane, encoded: parts }) };
        }
        return made.bytes;
      },
    };
    whole.set(source, all);
  }
  return all;
}

/** The whole content made for first syncs goes once the source has moved on. */
export function dropWhole(source: XdsDeltaSource): void {
  if (whole.get(source)?.sequence !== source.sequence) whole.delete(source);
}

/** What a stream at sequence `from` is sent to reach the source's sequence: every name changed since. */
export interface Step {
  /** Name → the version sent, or undefined for a removal (what an ACK or NACK refers to). */
  names: ReadonlyMap<string, string | undefined>;
  /** The response; undefined when nothing changed. */
  message: Buffer | undefined;
  nonce: string;
  /** Bytes of the resources in it. */
  bytes: number;
}

const steps = new WeakMap<XdsDeltaSource, { sequence: number; key: string; from: Map<number, Step> }>();

/** The step from `from`, made once per source sequence for every stream (the source's log must reach it). */
export function stepOf(source: XdsDeltaSource, from: number, typeUrl: string, controlPlane: string): Step {
  const key = `${typeUrl}\0${controlPlane}`;
  let made = steps.get(source);
  if (made?.sequence !== source.sequence || made.key !== key) {
    made = { sequence: source.sequence, key, from: new Map() };
    steps.set(source, made);
  }
  let step = made.from.get(from);
  if (!step) {
    const names = new Map<string, string | undefined>();
    const parts: Uint8Array[] = [];
    const removedResources: string[] = [];
    let bytes = 0;
    for (const name of source.changedSince(from) ?? []) {
      if (names.has(name)) continue;
      const now = source.resources.get(name);
      if (now) {
        const wire = wireOf(name, now);
        parts.push(wire);
        bytes += wire.length;
        names.set(name, now.version);
      } else {
        // The agent may not have it; removing a name it lacks is harmless (Envoy ignores it).
        removedResources.push(name);
        names.set(name, undefined);
      }
    }
    const nonce = `d${++nonces}`;
    const res = { systemVersionInfo: source.version, typeUrl, nonce, resources: [], removedResources };
    const message =
      names.size > 0 ? encodeDeltaResponse({ ...res, controlPlane, encoded: parts }) : undefined;
    step = { names, message, nonce, bytes };
    made.from.set(from, step);
  }
  return step;
}
