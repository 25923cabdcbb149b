// What the agent's thread already has of a keyed collection (VIPs, routes), so that each view sends
// only what changed: at 100,000 entries the whole list, cloned on every edit, stalled answering.

import type { KeyedDiff } from './messages.js';

export class KeyedMirror<T> {
  /** Each key's value as last sent, as JSON: compared, never read back. */
  readonly #sent = new Map<string, string>();

  /** The change from what was sent to `now`; remembers `now` as sent. */
  diff(now: ReadonlyMap<string, T>): KeyedDiff<T> {
    const out: KeyedDiff<T> = { set: [], remove: [] };
    for (const [key, value] of now) {
      const json = JSON.stringify(value);
      if (this.#sent.get(key) === json) continue;
      this.#sent.set(key, json);
      out.set.push([key, value]);
    }
    for (const key of this.#sent.keys()) {
      if (now.has(key)) continue;
      this.#sent.delete(key);
      out.remove.push(key);
    }
    return out;
  }
}

/** Applies a diff to the agent's copy; true when anything changed. */
export function applyKeyed<T>(into: Map<string, T>, diff: KeyedDiff<T>): boolean {
  for (const key of diff.remove) into.delete(key);
  for (const [key, value] of diff.set) into.set(key, value);
  return diff.set.length + diff.remove.length > 0;
}
