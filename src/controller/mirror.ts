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
