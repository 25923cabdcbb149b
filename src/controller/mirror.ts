// What the agent's thread already has of a keyed collection (VIPs, routes), so that each view sends
// only what changed: at 100,000 entries the whole list, cloned on every edit, stalled answering.

import type { KeyedDiff } from './messages.js';

export class KeyedMirror<T> {
  /** Each key's value as last sent, as JSON: compared, never read back. */
  readonly #sent = new Map<string, string>();

  get size(): number {
    return this.#sent.size;
  }

  /**
   * The change at `keys` (every key, sent or not, for 'all'), given each key's value now (undefined:
   * gone); remembers the values as sent.
   */
  diff(
    keys: Iterable<string> | 'all',
    current: (key: string) => T | undefined,
    all: () => Iterable<string>,
  ): KeyedDiff<T> {
    const out: KeyedDiff<T> = { set: [], remove: [] };
    const look = keys === 'all' ? new Set([...this.#sent.keys(), ...all()]) : keys;
    for (const key of look) {
      const value = current(key);
      if (value === undefined) {
        if (this.#sent.delete(key)) out.remove.push(key);
        continue;
      }
      const json = JSON.stringify(value);
      if (this.#sent.get(key) === json) continue;
      this.#sent.set(key, json);
      out.set.push([key, value]);
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
