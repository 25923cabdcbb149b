// What both YAML fast paths (fastyaml.ts, lineyaml.ts) share with `yaml`, the reference: the YAML 1.2
// core schema's scalar forms as `yaml` matches and converts them, and its limit on implicit keys.

// The core schema's number forms (YAML 1.2 §10.3.2), as `yaml` matches them. js-yaml 4's own int
// and float also read YAML 1.1 forms (`0b11`, `1_000`), which are strings in YAML 1.2.
export const CORE_INT = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
export const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
export const CORE_INF_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
export const CORE_NULL = /^(?:~|null|Null|NULL)?$/;
export const CORE_BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;

// `yaml` refuses an implicit key whose `:` is more than 1024 characters from the key's start;
// js-yaml has no such limit. Kept below 1024 for the opening quote.
export const IMPLICIT_KEY_MAX = 1000;

/** Thrown inside a fast path: this text is for the next path (and finally `yaml`) to read. */
export class NotFast extends Error {}

/** A number too big for a double (`1e400`, 400 digits): `yaml` is the reference for those. */
function finite(value: number): number {
  if (!Number.isFinite(value)) throw new NotFast('number out of range');
  return value;
}

export function coreInt(source: string): number {
  if (source.startsWith('0o')) return finite(Number.parseInt(source.slice(2), 8));
  if (source.startsWith('0x')) return finite(Number.parseInt(source.slice(2), 16));
  return finite(Number.parseInt(source, 10)); // keeps -0, as `yaml` does
}

export function coreFloat(source: string): number {
  if (!CORE_INF_NAN.test(source)) return finite(Number.parseFloat(source));
  if (source.endsWith('n') || source.endsWith('N')) return Number.NaN;
  return source.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

/**
 * Whether a plain scalar can be anything but a string, by its first character: the core schema's
 * other forms start with a digit, a sign, a dot, `~`, or the n, t or f of null, true and false (in
 * their cases). Most scalars of a manifest (names, kinds, protocols) start with another letter, and
 * skip the five patterns below (a quarter of reading a manifest).
 */
function mayBeOther(source: string): boolean {
  const c = source.charCodeAt(0) | 0x20;
  if (c < 0x61 || c > 0x7a) return true;
  return c === 0x6e || c === 0x74 || c === 0x66;
}

/** A plain (unquoted) scalar as the core schema reads it: null, boolean, integer, float or string. */
export function corePlain(source: string): unknown {
  if (source !== '' && !mayBeOther(source)) return source;
  if (CORE_NULL.test(source)) return null;
  if (CORE_BOOL.test(source)) return source.charCodeAt(0) === 0x74 || source.charCodeAt(0) === 0x54;
  if (CORE_INT.test(source)) return coreInt(source);
  if (CORE_FLOAT.test(source) || CORE_INF_NAN.test(source)) return coreFloat(source);
  return source;
}

/** A plain key that the core schema reads as something else than a string (`1:`, `true:`, `~:`). */
export function isNonStringPlain(source: string): boolean {
  if (source !== '' && !mayBeOther(source)) return false;
  return (
    CORE_NULL.test(source) ||
    CORE_BOOL.test(source) ||
    CORE_INT.test(source) ||
    CORE_FLOAT.test(source) ||
    CORE_INF_NAN.test(source)
  );
}
