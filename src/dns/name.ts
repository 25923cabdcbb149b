// Names have one form inside meshdns: lower-case with the trailing dot ("foo.example.com.").
// Map keys are the name's uncompressed wire bytes read as latin1 ("\x03foo\x07example\x03com\x00"),
// so the hot path can turn a question into a key with one toString and no label splitting.
import { MAX_LABEL_LENGTH, MAX_NAME_LENGTH } from './constants.js';

/** "Foo.Example.com" → "foo.example.com." */
export function toFqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/**
 * "foo.example.com." → its wire form as a latin1 string ("\x03foo\x07example\x03com\x00"), built
 * without a Buffer per label (the table builds hundreds of thousands of these). Throws on labels that
 * do not fit the wire format.
 */
function wireString(fqdn: string): string {
  if (fqdn === '.' || fqdn === '') return '\x00';
  const end = fqdn.endsWith('.') ? fqdn.length - 1 : fqdn.length;
  let out = '';
  let start = 0;
  while (start <= end) {
    let dot = fqdn.indexOf('.', start);
    if (dot === -1 || dot > end) dot = end;
    const len = dot - start;
    if (len === 0 || len > MAX_LABEL_LENGTH) throw new RangeError(`bad label in name "${fqdn}"`);
    out += String.fromCharCode(len) + fqdn.slice(start, dot);
    start = dot + 1;
  }
  if (out.length + 1 > MAX_NAME_LENGTH)
    throw new RangeError(`name "${fqdn}" is longer than ${MAX_NAME_LENGTH} bytes`);
  return `${out}\x00`;
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
  try {
    wireString(fqdn);
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
