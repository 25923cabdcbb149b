// Names have one form inside meshdns: lower-case with the trailing dot ("foo.example.com.").
// Map keys are the name's uncompressed wire bytes read as latin1 ("\x03foo\x07example\x03com\x00"),
// so the hot path can turn a question into a key with one toString and no label splitting.
const MAX_LABEL = 63;
const MAX_NAME = 255;

/** "Foo.Example.com" → "foo.example.com." */
export function toFqdn(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** "foo.example.com." → wire bytes, uncompressed. Throws on labels that do not fit the wire format. */
export function encodeName(fqdn: string): Buffer {
  if (fqdn === '.' || fqdn === '') return Buffer.from([0]);
  const labels = (fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn).split('.');
  const parts: Buffer[] = [];
  let size = 1;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > MAX_LABEL) throw new RangeError(`bad label in name "${fqdn}"`);
    parts.push(Buffer.from([bytes.length]), bytes);
    size += bytes.length + 1;
  }
  if (size > MAX_NAME) throw new RangeError(`name "${fqdn}" is longer than ${MAX_NAME} bytes`);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts, size);
}

/** "Foo.example.com." → the lower-cased wire key. */
export function nameToKey(fqdn: string): string {
  return encodeName(fqdn.toLowerCase()).toString('latin1');
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
