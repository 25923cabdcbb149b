// Names have one form inside meshdns: lower-case with the trailing dot ("foo.example.com.").
// Map keys are the name's uncompressed wire bytes read as latin1 ("\x03foo\x07example\x03com\x00"),
// so the hot path can turn a question into a key with one toString and no label splitting.
import { MAX_LABEL_LENGTH, MAX_NAME_LENGTH } from './constants.js';

/** "Foo.Example.com" → "foo.example.com." */
export function toFqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : flatName(`${lower}.`);
}

/** Where the wire forms are written: names are at most 255 bytes, and at most that many characters are taken. */
const scratch = Buffer.allocUnsafe(MAX_NAME_LENGTH + 1);

/**
 * `name` as one flat string of its own. V8 keeps a joined string as a tree of its pieces (32 bytes a
 * node), and a slice as a view that keeps the whole string it came from; a name table keeps hundreds
 * of thousands of names: copied through a buffer, each is one object. Names longer than a wire name,
 * or not latin1, are returned as they are.
 */
export function flatName(name: string): string {
  if (name.length > scratch.length) return name;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff) return name;
    scratch[i] = c;
  }
  return scratch.toString('latin1', 0, name.length);
}

/**
 * Checks "foo.example.com." against the wire format and writes its wire form into `scratch`; returns
 * the byte count, or -1 when a character is not latin1 (checked all the same; the caller then builds it
 * as a string).
 * Throws on labels that do not fit.
 */
function writeWire(fqdn: string, into: Buffer | undefined): number {
  const end = fqdn.endsWith('.') ? fqdn.length - 1 : fqdn.length;
  let at = 0;
  let start = 0;
  // A character past latin1 stops the writing, never the checks: the whole name is still checked.
  let latin1 = true;
  while (start <= end) {
    let dot = fqdn.indexOf('.', start);
    if (dot === -1 || dot > end) dot = end;
    const len = dot - start;
    if (len === 0 || len > MAX_LABEL_LENGTH) throw new RangeError(`bad label in name "${fqdn}"`);
    if (at + 1 + len + 1 > MAX_NAME_LENGTH)
      throw new RangeError(`name "${fqdn}" is longer than ${MAX_NAME_LENGTH} bytes`);
    if (into && latin1) {
      into[at] = len;
      for (let i = 0; i < len && latin1; i++) {
        const c = fqdn.charCodeAt(start + i);
        latin1 = c <= 0xff;
        into[at + 1 + i] = c;
      }
    }
    at += 1 + len;
    start = dot + 1;
  }
  if (into) into[at] = 0;
  return latin1 ? at + 1 : -1;
}

/**
 * "foo.example.com." → its wire form as a latin1 string ("\x03foo\x07example\x03com\x00"). The table
 * holds hundreds of thousands of these as Map keys: written into a buffer and read back as one flat
 * string, each is one small object, where joining label by label left a tree of string pieces
 * (a third of the table builder's memory). Throws on labels that do not fit the wire format.
 */
function wireString(fqdn: string): string {
  if (fqdn === '.' || fqdn === '') return '\x00';
  const n = writeWire(fqdn, scratch);
  if (n !== -1) return scratch.toString('latin1', 0, n);
  // Not latin1 (never a valid host name): the characters as they are, as before.
  const end = fqdn.endsWith('.') ? fqdn.length - 1 : fqdn.length;
  return `${fqdn
    .slice(0, end)
    .split('.')
    .map((label) => String.fromCharCode(label.length) + label)
    .join('')}\x00`;
}

/** "foo.example.com." → wire bytes, uncompressed. Throws on labels that do not fit the wire format. */
export function encodeName(fqdn: string): Buffer {
  return Buffer.from(wireString(fqdn), 'latin1');
}

/** "Foo.example.com." → the lower-cased wire key. */
export function nameToKey(fqdn: string): string {
  return wireString(fqdn.toLowerCase());
}

/** Whether `fqdn` fits the wire format (labels of 1–63 bytes, at most 255 in all). */
export function fitsWire(fqdn: string): boolean {
  if (fqdn === '.' || fqdn === '') return true;
  try {
    writeWire(fqdn, undefined);
    return true;
  } catch {
    return false;
  }
}

/** The wire key back to "foo.example.com.". */
export function keyToName(key: string): string {
  let out = '';
  let i = 0;
  while (i < key.length) {
    const len = key.charCodeAt(i);
    if (len === 0) break;
    out += `${key.slice(i + 1, i + 1 + len)}.`;
    i += len + 1;
  }
  return out === '' ? '.' : out;
}

/** The key of the parent name (one label stripped), or undefined for the root. */
export function parentKey(key: string): string | undefined {
  const len = key.charCodeAt(0);
  return len === 0 ? undefined : key.slice(len + 1);
}

// An LDH label (RFC 1123 §2.1): letters, digits and inner hyphens, 1-63 characters.
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A Kubernetes object name that becomes one DNS label (Service, Namespace, hostname). */
export function isDnsLabel(name: string): boolean {
  return LABEL.test(name);
}
