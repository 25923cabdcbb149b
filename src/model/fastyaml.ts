// The fast path for YAML manifests: js-yaml reads the common subset of YAML 4-5x faster than `yaml`
// in multi-document files (2x in one-object files, where js-yaml's fixed cost per call dominates).
// It is used only where it gives exactly what `yaml` (YAML 1.2 core schema, `toJS`) gives; anything
// else returns undefined and the caller parses the file again with `yaml`, whose messages (line,
// column) and per-document recovery stay the reference. A false "undefined" only costs speed.
// test/unit/manifest-fastyaml.test.ts holds the differential test; each rule below names what
// differed or what only the `yaml` path guarantees.
import {
  CORE_SCHEMA,
  constructFromEvents,
  EVENT_ID,
  type Event,
  floatCoreTag,
  intCoreTag,
  type MappingTagDefinition,
  mapTag,
  NOT_RESOLVED,
  parseEvents,
  type ScalarTagDefinition,
} from 'js-yaml';

// `yaml` refuses an implicit key whose `:` is more than 1024 characters from the key's start;
// js-yaml has no such limit. Kept below 1024 for the opening quote.
const IMPLICIT_KEY_MAX = 1000;

// The core schema's number forms (YAML 1.2 §10.3.2), as `yaml` matches them.
const CORE_INT = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;

class NotFast extends Error {}

// js-yaml reads a number too big for a double (`1e400`, 400 digits) as a string, `yaml` as ±Infinity.
function finiteOnly(tag: ScalarTagDefinition<number>, form: RegExp): ScalarTagDefinition<number> {
  return {
    ...tag,
    resolve(source, isExplicit, tagName) {
      const value = tag.resolve(source, isExplicit, tagName);
      if (value === NOT_RESOLVED && form.test(source)) throw new NotFast('number out of range');
      return value;
    },
  };
}

// `yaml` turns a null key into "" and js-yaml into "null"; keys that are not strings (numbers,
// booleans, null) are rare in manifests, so none of them takes the fast path.
const stringKeysOnly: MappingTagDefinition<Record<string, unknown>, Record<string, unknown>> = {
  ...mapTag,
  addPair: (map, key, value) =>
    typeof key === 'string' ? mapTag.addPair(map, key, value) : 'a key that is not a string',
};

const SCHEMA = CORE_SCHEMA.withTags(
  finiteOnly(intCoreTag, CORE_INT),
  finiteOnly(floatCoreTag, CORE_FLOAT),
  stringKeysOnly,
);

/** Text that the two parsers read differently, found by the differential test and a fuzzer. */
function hasTextOnlyYamlReads(text: string): boolean {
  return (
    // A BOM: `yaml` rejects some documents after one, and any BOM not at the start.
    text.includes('\uFEFF') ||
    // Tabs: `yaml` rejects tabs as indentation in places js-yaml skips them.
    text.includes('\t') ||
    // A bare CR as a line break, and an escaped line break in a double-quoted string.
    (text.includes('\r') && /\r(?!\n)/.test(text)) ||
    text.includes('\\\n') ||
    text.includes('\\\r') ||
    // `...` (document end): `yaml` counts an empty document where js-yaml counts none, which would
    // shift the `doc` index of every later document.
    text.startsWith('...') ||
    text.includes('\n...') ||
    // An indented `---`, `...` or `%`: js-yaml takes it for a marker or a directive at the start of
    // a document. Any `%` line: js-yaml does not report unknown directives, so they are found here.
    /^ *%|^ +(?:---|\.\.\.)/m.test(text) ||
    // Block scalars with an indentation indicator (`|2`) or keep chomping (`|+`): trailing and
    // leading spaces differ.
    /[|>](?:[-+]?[1-9]|[1-9]?\+)/.test(text)
  );
}

/**
 * Whether the events hold what only `yaml` handles as today: directives (`%YAML 1.1` switches
 * schema), tags (explicit types, `!!binary`, custom tags), anchors and aliases (`yaml` bounds alias
 * expansion with `maxAliasCount`; js-yaml shares objects without a bound), keys that are
 * collections, and over-long implicit keys.
 */
function hasEventsOnlyYamlReads(text: string, events: readonly Event[]): boolean {
  // Per open collection: -1 for a sequence or document, else the number of nodes seen in the
  // mapping so far (an even count means the next node is a key).
  const open: number[] = [];
  for (const e of events) {
    switch (e.type) {
      case EVENT_ID.DOCUMENT:
        if (e.directives.length > 0) return true;
        open.push(-1);
        break;
      case EVENT_ID.POP:
        open.pop();
        break;
      case EVENT_ID.ALIAS:
        return true;
      default: {
        if (e.anchorStart !== -1 || e.tagStart !== -1) return true;
        const top = open.length - 1;
        const seen = open[top] ?? -1;
        if (seen >= 0) {
          open[top] = seen + 1;
          if (seen % 2 === 0) {
            if (e.type !== EVENT_ID.SCALAR) return true;
            if (text.indexOf(':', e.valueEnd) - e.valueStart > IMPLICIT_KEY_MAX) return true;
          }
        }
        if (e.type === EVENT_ID.MAPPING) open.push(0);
        else if (e.type === EVENT_ID.SEQUENCE) open.push(-1);
      }
    }
  }
  return false;
}

/**
 * The value of each YAML document in `text`, deep-equal to `yaml`'s `parseAllDocuments(text)`
 * `.map(d => d.toJS())`, or undefined when the text must be parsed by `yaml` (a syntax error, or a
 * construct where the two differ).
 */
export function fastYamlDocuments(text: string): unknown[] | undefined {
  if (hasTextOnlyYamlReads(text)) return undefined;
  try {
    const events = parseEvents(text, {});
    if (hasEventsOnlyYamlReads(text, events)) return undefined;
    return constructFromEvents(events, { source: text, schema: SCHEMA, maxAliases: 0 });
  } catch {
    // A syntax error, a duplicate key, a number out of range: `yaml` says where and what.
    return undefined;
  }
}
