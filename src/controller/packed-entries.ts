// A keyed part (VIPs, routes) as it crosses from the controller's thread to the agent's: one string,
// each entry `key \0 JSON(value) \n`, so that the agent can keep every value as its JSON (a slice of
// the part) until something reads it. Parsing 37,500 VIPs and routes as they arrived (50,000 objects)
// made half of the answering thread's garbage-collection pauses while it applied the first table, and
// could set off a mark-compact of 40-65 ms; without a VIP proxy nothing on that thread reads routes.
import { flatName } from '../dns/index.js';

/** The set's entries packed; keys (allocation keys: namespace/name/host) hold neither \0 nor \n. */
export function packEntries(set: readonly (readonly [string, unknown])[]): string {
  const out: string[] = [];
  for (const [key, value] of set) {
    if (key.includes('\0') || key.includes('\n')) throw new Error(`packEntries: key ${JSON.stringify(key)}`);
    out.push(key, '\0', JSON.stringify(value), '\n');
  }
  return out.join('');
}

/**
 * The entries of a packed part: each key, a string of its own (a map keeps it for as long as the entry
 * lives, and a slice would keep the whole part with it), and its value's JSON, a slice of `packed`
 * until it is parsed.
 */
export function* unpackEntries(packed: string): Generator<[string, string]> {
  for (let at = 0; at < packed.length; ) {
    const keyEnd = packed.indexOf('\0', at);
    const end = keyEnd === -1 ? -1 : packed.indexOf('\n', keyEnd);
    if (end === -1) throw new Error(`malformed packed entries at ${at}`);
    yield [flatName(packed.slice(at, keyEnd)), packed.slice(keyEnd + 1, end)];
    at = end + 1;
  }
}

/**
 * Every value of `held`, in its order; a value still JSON is parsed and kept parsed, so the next read
 * (the next view, an admin request) finds it ready.
 */
export function readAll<T extends object>(held: Map<string, T | string>): T[] {
  const out: T[] = [];
  for (const [key, value] of held) {
    if (typeof value !== 'string') {
      out.push(value);
      continue;
    }
    const parsed = JSON.parse(value) as T;
    held.set(key, parsed);
    out.push(parsed);
  }
  return out;
}
