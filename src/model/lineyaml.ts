// The fastest path for YAML manifests: the block style that kubectl, Helm, kustomize and people
// write (mappings and sequences by indentation, one-line scalars, one-line flow sequences of
// scalars), read line by line. At 50,000 objects the js-yaml path (fastyaml.ts) spent about 40 µs
// per object, most of it in its general machinery; this reader does only what that subset needs.
//
// It must give exactly what `yaml` (YAML 1.2 core schema, `toJS`) gives, so it reads only what it
// is sure of and returns undefined for anything else: block scalars (`|`, `>`), multi-line scalars,
// anchors, aliases, tags, flow mappings other than `{}`, nested flow collections, escapes, tabs,
// CRs, BOMs, control characters, directives, `...`, duplicate keys, keys that are not strings.
// The js-yaml path and then `yaml` read those (and report the syntax errors). The differential
// test (test/unit/manifest-fastyaml.test.ts) holds every rule below against `yaml`.
import { corePlain, IMPLICIT_KEY_MAX, isNonStringPlain, NotFast } from './yamlcore.js';

/** Characters that this reader leaves to the others wherever they appear. */
const REFUSED_CHARS =
  /[\t\r\\\uFEFF\u2028\u2029\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uD800-\uDFFF]|^(?:%|\.\.\.)/m;

/** A document marker alone on its line (a comment may follow). */
const MARKER = /^---(?: +(?:#.*)?)?$/;

/**
 * Characters that cannot start a plain scalar here: YAML's indicators (`-`, `?` and `:` start one
 * when a non-space follows, which this reader leaves to the others too).
 */
const NOT_PLAIN_START = new Set([...'-?:,[]{}#&*!|>\'"%@`']);

const SPACE = 0x20;
const HASH = 0x23;

interface Line {
  indent: number;
  /** The line after its indentation, trailing spaces removed; never empty, never a comment. */
  text: string;
}

function refuse(why: string): never {
  throw new NotFast(why);
}

// YAML's white space is the space and the tab (refused above); String.trim would also take
// no-break spaces and line separators, which are content in YAML.
function trimEnd(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === SPACE) end--;
  return end === text.length ? text : text.slice(0, end);
}

function trimStart(text: string): string {
  let start = 0;
  while (text.charCodeAt(start) === SPACE) start++;
  return start === 0 ? text : text.slice(start);
}

/**
 * The value of each YAML document in `text`, deep-equal to `yaml`'s `parseAllDocuments(text)`
 * `.map(d => d.toJS())`, or undefined when the text is not in this reader's subset.
 */
export function lineYamlDocuments(text: string): unknown[] | undefined {
  if (REFUSED_CHARS.test(text)) return undefined;
  try {
    return documents(text).map(documentValue);
  } catch (e) {
    if (e instanceof NotFast) return undefined;
    throw e;
  }
}

/** The content lines of each document: split at `---` lines, comments and blank lines dropped. */
function documents(text: string): Line[][] {
  const docs: Line[][] = [];
  let current: Line[] = [];
  let marked = false;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('---')) {
      if (!MARKER.test(raw)) refuse('content on a document marker');
      // What comes before the first marker is a document only when it has content.
      if (marked || current.length > 0) docs.push(current);
      current = [];
      marked = true;
      continue;
    }
    let indent = 0;
    while (raw.charCodeAt(indent) === SPACE) indent++;
    if (indent === raw.length || raw.charCodeAt(indent) === HASH) continue;
    current.push({ indent, text: trimEnd(raw.slice(indent)) });
  }
  if (marked || current.length > 0) docs.push(current);
  return docs;
}

function documentValue(lines: Line[]): unknown {
  if (lines.length === 0) return null;
  const reader = new BlockReader(lines);
  const first = lines[0]!;
  if (!isEntry(first.text) && splitKey(first.text) === undefined) refuse('a scalar document');
  const value = reader.block(first.indent);
  if (reader.pos !== lines.length) refuse('a line outside the document structure');
  return value;
}

const isEntry = (text: string) => text === '-' || text.startsWith('- ');

class BlockReader {
  pos = 0;
  constructor(private readonly lines: Line[]) {}

  /** The collection whose first line is the current one, at `indent`. */
  block(indent: number): unknown {
    const line = this.lines[this.pos]!;
    return isEntry(line.text) ? this.sequence(indent) : this.mapping(indent);
  }

  private sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (let line = this.lines[this.pos]; line && line.indent >= indent; line = this.lines[this.pos]) {
      if (line.indent > indent) refuse('a line indented into a sequence entry');
      if (!isEntry(line.text)) break;
      let at = 1;
      while (line.text.charCodeAt(at) === SPACE) at++;
      const rest = line.text.slice(at);
      if (rest === '' || rest.charCodeAt(0) === HASH) {
        this.pos++;
        out.push(this.nested(indent, false));
      } else if (isEntry(rest)) {
        refuse('a sequence inside a sequence entry');
      } else if (splitKey(rest) !== undefined) {
        // `- key: value`: a mapping whose keys line up with this first one.
        const column = indent + at;
        this.lines[this.pos] = { indent: column, text: rest };
        out.push(this.mapping(column));
      } else {
        this.pos++;
        out.push(inlineValue(rest));
        this.noContinuation(indent);
      }
    }
    return out;
  }

  private mapping(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let line = this.lines[this.pos]; line && line.indent >= indent; line = this.lines[this.pos]) {
      if (line.indent > indent) refuse('a line indented into a mapping entry');
      const split = splitKey(line.text);
      if (!split) refuse('a mapping line without a key');
      const [key, rest] = split;
      if (Object.hasOwn(out, key)) refuse('a duplicate key');
      this.pos++;
      if (rest === '' || rest.charCodeAt(0) === HASH) out[key] = this.nested(indent, true);
      else {
        out[key] = inlineValue(rest);
        this.noContinuation(indent);
      }
    }
    return out;
  }

  /**
   * The value of an entry with nothing after its `-` or `:`: the collection on the lines indented
   * under it, or (a mapping's only) a sequence at the key's own indentation, or null.
   */
  private nested(indent: number, inMapping: boolean): unknown {
    const next = this.lines[this.pos];
    if (!next) return null;
    if (next.indent > indent) return this.block(next.indent);
    if (inMapping && next.indent === indent && isEntry(next.text)) return this.sequence(indent);
    return null;
  }

  /** A scalar's next line indented under it would continue it (a multi-line scalar) or be an error. */
  private noContinuation(indent: number): void {
    const next = this.lines[this.pos];
    if (next && next.indent > indent) refuse('a scalar over several lines');
  }
}

/** `key: rest` or `key:` → [key, rest]; undefined when the line is not a simple implicit key. */
function splitKey(text: string): [string, string] | undefined {
  let key: string;
  let after: number;
  const c = text[0]!;
  if (c === '"' || c === "'") {
    const [value, end] = quoted(text, 0);
    key = value;
    after = end;
    while (text.charCodeAt(after) === SPACE) after++;
    if (text[after] !== ':') return undefined;
    // `"k":v` is JSON style, which block mappings do not take.
    if (after + 1 < text.length && text.charCodeAt(after + 1) !== SPACE) refuse('a value glued to its key');
  } else {
    if (NOT_PLAIN_START.has(c)) return undefined;
    after = colonIndicator(text);
    if (after === -1) return undefined;
    key = trimEnd(text.slice(0, after));
    if (/[[\]{},]| #/.test(key) || isNonStringPlain(key)) refuse('a key this reader does not take');
  }
  if (after > IMPLICIT_KEY_MAX) refuse('an implicit key over the length limit');
  if (key === '__proto__') refuse('a __proto__ key');
  return [key, trimStart(text.slice(after + 1))];
}

/** Where the first `:` followed by a space or the end of the line is; -1 when there is none. */
function colonIndicator(text: string): number {
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) {
    if (i + 1 === text.length || text.charCodeAt(i + 1) === SPACE) return i;
  }
  return -1;
}

/** A quoted scalar that opens at `at` and closes on this line: its value and where it ends. */
function quoted(text: string, at: number): [string, number] {
  const q = text[at]!;
  if (q === '"') {
    const close = text.indexOf('"', at + 1);
    if (close === -1) refuse('a quoted scalar over several lines');
    return [text.slice(at + 1, close), close + 1];
  }
  let value = '';
  let from = at + 1;
  for (;;) {
    const close = text.indexOf("'", from);
    if (close === -1) refuse('a quoted scalar over several lines');
    value += text.slice(from, close);
    if (text[close + 1] !== "'") return [value, close + 1];
    value += "'";
    from = close + 2;
  }
}

/** Nothing but a comment (after a space) may follow a value on its line. */
function endOfValue(text: string, at: number): void {
  const rest = text.slice(at);
  if (trimStart(rest) !== '' && !/^ +#/.test(rest)) refuse('more after a value');
}

/** A value that starts on its key's or entry's line and ends there. */
function inlineValue(text: string): unknown {
  const c = text[0]!;
  if (c === '"' || c === "'") {
    const [value, end] = quoted(text, 0);
    endOfValue(text, end);
    return value;
  }
  if (c === '[') return flowSequence(text);
  if (c === '{') {
    if (!/^\{ *\}/.test(text)) refuse('a flow mapping');
    endOfValue(text, text.indexOf('}') + 1);
    return {};
  }
  return plain(text);
}

/** A plain scalar (up to a comment), as the core schema reads it. */
function plain(text: string): unknown {
  // `-1`, `-x`: a `-` followed by a non-space starts a plain scalar.
  const c = text[0]!;
  if (NOT_PLAIN_START.has(c) && !(c === '-' && text.length > 1 && text[1] !== ' '))
    refuse('a value starting with an indicator');
  const comment = text.indexOf(' #');
  const source = trimEnd(comment === -1 ? text : text.slice(0, comment));
  if (colonIndicator(source) !== -1) refuse('a mapping inside a value');
  if (/[[\]{}]/.test(source)) refuse('flow indicators in a plain scalar');
  return corePlain(source);
}

/** `[a, "b", 1]`: scalars only, on one line. */
function flowSequence(text: string): unknown[] {
  const close = text.indexOf(']');
  if (close === -1) refuse('a flow sequence over several lines');
  endOfValue(text, close + 1);
  const inner = text.slice(1, close);
  if (trimStart(inner) === '') return [];
  return inner.split(',').map((item) => {
    const t = trimEnd(trimStart(item));
    if (t === '') refuse('an empty flow entry');
    if (t[0] === '"' || t[0] === "'") {
      const [value, end] = quoted(t, 0);
      if (end !== t.length) refuse('more after a quoted flow entry');
      return value;
    }
    if (t.includes('#') || t.includes(':')) refuse('a comment or a colon in a flow entry');
    return plain(t);
  });
}
