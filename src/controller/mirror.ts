// What the agent's thread already has of a keyed collection (VIPs, routes), so that each view sends
// only what changed: at 100,000 entries the whole list, cloned on every edit, stalled answering.

import type { KeyedDiff } from './messages.js';

/**
 * Whether two values of plain data (what crosses to the agent's thread: primitives, arrays, objects)
 * are equal. Comparing them as JSON cost a full build 50 ms at 10,000 objects, most of it stringifying.
 */
export function samePlain(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!samePlain(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const k of keys) if (!Object.hasOwn(y, k) || !samePlain(x[k], y[k])) return false;
  return true;
}

export class KeyedMirror<T> {
  /** Each key's value as last sent (never changed after): compared, never read back. */
  readonly #sent = new Map<string, T>();

  get size(): number {
    return this.#sent.size;
  }

  /** The keys sent and not removed since. */
  keys(): IterableIterator<string> {
    return this.#sent.keys();
  }

  /** `key`'s value now (undefined: gone), into `out` where it differs from the value last sent. */
  put(key: string, value: T | undefined, out: KeyedDiff<T>): void {
    if (value === undefined) {
      if (this.#sent.delete(key)) out.remove.push(key);
      return;
    }
    const before = this.#sent.get(key);
    if (before !== undefined && samePlain(before, value)) return;
    this.#sent.set(key, value);
    out.set.push([key, value]);
  }
}
