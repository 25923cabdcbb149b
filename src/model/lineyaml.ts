// The fastest path for YAML manifests: the block style that kubectl, Helm, kustomize and people
// write (mappings and sequences by indentation, one-line scalars, one-line flow sequences of
// scalars), read line by line. At 50,000 objects the js-yaml path (fastyaml.ts) spent about 40 µs
// per object, most of it in its general machinery; this reader does only what that subset needs.
// It reads positions in the text, never a string or an object per line: only keys and scalars are
// sliced out (issue 8: per-line strings and objects were a third of reading a folder, and most of
// the garbage its start-up collected).
//
// It must give exactly what `yaml` (YAML 1.2 core schema, `toJS`) gives, so it reads only what it
// is sure of and returns undefined for anything else: block scalars (`|`, `>`), multi-line scalars,
// anchors, aliases, tags, flow mappings other than `{}`, nested flow collections, escapes, tabs,
// CRs, BOMs, control characters, directives, `...`, duplicate keys, keys that are not strings.
// The js-yaml path and then `yaml` read those (and report the syntax errors). The differential
// test (test/unit/manifest-fastyaml.test.ts) holds every rule below against `yaml`.
import { flatName } from '../dns/index.js';
import { corePlain, IMPLICIT_KEY_MAX, isNonStringPlain, NotFast } from './yamlcore.js';

/** Characters that this reader leaves to the others wherever they appear. */
const REFUSED_CHARS =
  /[\t\r\\\uFEFF\u2028\u2029\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uD800-\uDFFF]|^(?:%|\.\.\.)/m;

const SPACE = 0x20;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

/**
 * Characters that cannot start a plain scalar here: YAML's indicators (`-`, `?` and `:` start one
 * when a non-space follows, which this reader leaves to the others too).
 */
const NOT_PLAIN_START = new Uint8Array(128);
for (const c of '-?:,[]{}#&*!|>\'"%@`') NOT_PLAIN_START[c.charCodeAt(0)] = 1;
const notPlainStart = (c: number) => c < 128 && NOT_PLAIN_START[c] === 1;

/** `[`, `]`, `{`, `}`: flow indicators, which a plain scalar here never holds. */
const isFlowIndicator = (c: number) => c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d;

/**
 * A scalar's text as a string of its own. V8 makes a longer slice (13 characters and more) a view
 * into the file's text, and one such value kept in a resource (a host, a timestamp) keeps the whole
 * text alive: 2.6 of 13.6 MiB of a 10,000-object folder's resources were file texts kept that way.
 */
function ownSlice(text: string, start: number, end: number): string {
  if (end - start >= 13) return flatName(text.slice(start, end));
  // A value that starts with a digit (a port, an address) is unique or becomes a number: not shared.
  const c = text.charCodeAt(start);
  return c >= 0x30 && c <= 0x39 ? text.slice(start, end) : shared(text, start, end);
}

/**
 * Where a string in [start, end) of `text` is looked for in a table of SLOTS strings: a hash of its
 * length and three of its characters. A slot holds one string, compared in place (`startsWith`), so a
 * string found there costs no slice, no hash of a new string and no map lookup.
 */
const SLOTS = 1024;
function slotOf(text: string, start: number, end: number): number {
  const n = end - start;
  if (n === 0) return 0;
  const hash =
    n * 33 + text.charCodeAt(start) * 7 + text.charCodeAt(start + (n >> 1)) * 3 + text.charCodeAt(end - 1);
  return hash & (SLOTS - 1);
}

/** The string in `slots` for [start, end) of `text`, when it is that text. */
function inSlot(slots: readonly string[], text: string, start: number, end: number): string | undefined {
  const held = slots[slotOf(text, start, end)]!;
  return held.length === end - start && text.startsWith(held, start) ? held : undefined;
}

/**
 * Short values repeat across objects (`TCP`, `DNS`, `MESH_EXTERNAL`, a namespace, a port's name): one
 * string each rather than one per object (issue 8: 50,000 objects held 50,000 copies of "TCP" and of
 * their namespaces, about 4.5 MiB in all). Bounded: emptied when full, so unique values (addresses)
 * cannot grow it. A value seen twice goes to its slot too, where the next one finds it in place.
 */
const SHARED_MAX = 4096;
const sharedValues = new Map<string, string>();
const sharedSlots: string[] = new Array<string>(SLOTS).fill('');
function shared(text: string, start: number, end: number): string {
  const held = inSlot(sharedSlots, text, start, end);
  if (held !== undefined) return held;
  const value = text.slice(start, end);
  const known = sharedValues.get(value);
  if (known !== undefined) {
    sharedSlots[slotOf(text, start, end)] = known;
    return known;
  }
  if (sharedValues.size >= SHARED_MAX) sharedValues.clear();
  sharedValues.set(value, value);
  return value;
}

/**
 * Plain keys read before: a manifest's keys are a small vocabulary (`metadata`, `name`, `ports`…), and
 * a key found in its slot is that string, not a new one sliced out and then looked up among V8's
 * property names when it becomes one (issue 8: with the value slots above, parsing a 10,000-object
 * folder's texts took 65 ms instead of 74, best of six, eight alternated runs). A slot keeps the
 * first key it gets, so labels of every kind cannot grow the table, and holds only keys
 * this reader took: a key found there needs no check again.
 */
const knownKeys: string[] = new Array<string>(SLOTS).fill('');

function rememberKey(key: string): void {
  const slot = slotOf(key, 0, key.length);
  // As a property name: the string V8 keeps for that name, which later stores find at once.
  if (knownKeys[slot] === '') knownKeys[slot] = Object.keys({ [key]: 0 })[0]!;
}

function refuse(why: string): never {
  throw new NotFast(why);
}

/**
 * The value of each YAML document in `text`, deep-equal to `yaml`'s `parseAllDocuments(text)`
 * `.map(d => d.toJS())`, or undefined when the text is not in this reader's subset.
 */
export function lineYamlDocuments(text: string): unknown[] | undefined {
  if (REFUSED_CHARS.test(text)) return undefined;
  try {
    return new BlockReader(text).documents();
  } catch (e) {
    if (e instanceof NotFast) return undefined;
    throw e;
  }
}

/** Past the spaces from `at`, up to `end`. */
function skipSpaces(text: string, at: number, end: number): number {
  let i = at;
  while (i < end && text.charCodeAt(i) === SPACE) i++;
  return i;
}

/**
 * Where `char` first is in [from, end), -1 when it is not: `indexOf` would search on past the line,
 * to the end of the file when the character is not in it.
 */
function indexIn(text: string, char: number, from: number, end: number): number {
  for (let i = from; i < end; i++) if (text.charCodeAt(i) === char) return i;
  return -1;
}

/** `end` moved back over trailing spaces, not before `start`. */
function trimSpacesEnd(text: string, start: number, end: number): number {
  let e = end;
  while (e > start && text.charCodeAt(e - 1) === SPACE) e--;
  return e;
}

/** `-` alone or followed by a space: a sequence entry. */
function isEntry(text: string, start: number, end: number): boolean {
  return text.charCodeAt(start) === DASH && (start + 1 === end || text.charCodeAt(start + 1) === SPACE);
}

/** Where the first `:` followed by a space or `end` is, in [start, end); -1 when there is none. */
function colonIndicator(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) === COLON && (i + 1 === end || text.charCodeAt(i + 1) === SPACE)) return i;
  }
  return -1;
}

/** A quoted scalar that opens at `at` and closes before `end`: its value; `quotedEnd` is set to after it. */
let quotedEnd = 0;
function quoted(text: string, at: number, end: number): string {
  const q = text.charCodeAt(at);
  if (q === DQUOTE) {
    const close = indexIn(text, DQUOTE, at + 1, end);
    if (close === -1) refuse('a quoted scalar over several lines');
    quotedEnd = close + 1;
    return ownSlice(text, at + 1, close);
  }
  let value = '';
  let from = at + 1;
  for (;;) {
    const close = indexIn(text, SQUOTE, from, end);
    if (close === -1) refuse('a quoted scalar over several lines');
    value += text.slice(from, close);
    if (close + 1 >= end || text.charCodeAt(close + 1) !== SQUOTE) {
      quotedEnd = close + 1;
      return value;
    }
    value += "'";
    from = close + 2;
  }
}

/** Nothing but a comment (after a space) may follow a value on its line. */
function endOfValue(text: string, at: number, end: number): void {
  if (at >= end) return;
  const next = skipSpaces(text, at, end);
  if (next === end) return;
  if (next === at || text.charCodeAt(next) !== HASH) refuse('more after a value');
}

/** A plain scalar in [start, end) (up to a comment), as the core schema reads it. */
function plain(text: string, start: number, end: number): unknown {
  // `-1`, `-x`: a `-` followed by a non-space starts a plain scalar.
  const c = text.charCodeAt(start);
  if (notPlainStart(c) && !(c === DASH && end - start > 1 && text.charCodeAt(start + 1) !== SPACE))
    refuse('a value starting with an indicator');
  // Up to a comment: a `#` after a space.
  let stop = end;
  for (let i = start + 1; i < end; i++) {
    if (text.charCodeAt(i) === HASH && text.charCodeAt(i - 1) === SPACE) {
      stop = i - 1;
      break;
    }
  }
  stop = trimSpacesEnd(text, start, stop);
  for (let i = start; i < stop; i++) {
    const ch = text.charCodeAt(i);
    if (ch === COLON && (i + 1 === stop || text.charCodeAt(i + 1) === SPACE))
      refuse('a mapping inside a value');
    if (isFlowIndicator(ch)) refuse('flow indicators in a plain scalar');
  }
  return corePlain(ownSlice(text, start, stop));
}

/** `[a, "b", 1]` in [start, end): scalars only, on one line. */
function flowSequence(text: string, start: number, end: number): unknown[] {
  const close = indexIn(text, 0x5d, start, end);
  if (close === -1) refuse('a flow sequence over several lines');
  endOfValue(text, close + 1, end);
  const out: unknown[] = [];
  if (skipSpaces(text, start + 1, close) === close) return out;
  for (let from = start + 1; from <= close; ) {
    let comma = indexIn(text, 0x2c, from, close);
    if (comma === -1) comma = close;
    const s = skipSpaces(text, from, comma);
    const e = trimSpacesEnd(text, s, comma);
    if (s === e) refuse('an empty flow entry');
    const c = text.charCodeAt(s);
    if (c === DQUOTE || c === SQUOTE) {
      const value = quoted(text, s, e);
      if (quotedEnd !== e) refuse('more after a quoted flow entry');
      out.push(value);
    } else {
      for (let i = s; i < e; i++) {
        const ch = text.charCodeAt(i);
        if (ch === HASH || ch === COLON) refuse('a comment or a colon in a flow entry');
      }
      out.push(plain(text, s, e));
    }
    from = comma + 1;
  }
  return out;
}

/** A value that starts on its key's or entry's line, in [start, end), and ends there. */
function inlineValue(text: string, start: number, end: number): unknown {
  const c = text.charCodeAt(start);
  if (c === DQUOTE || c === SQUOTE) {
    const value = quoted(text, start, end);
    endOfValue(text, quotedEnd, end);
    return value;
  }
  if (c === 0x5b) return flowSequence(text, start, end);
  if (c === 0x7b) {
    const close = skipSpaces(text, start + 1, end);
    if (close === end || text.charCodeAt(close) !== 0x7d) refuse('a flow mapping');
    endOfValue(text, close + 1, end);
    return {};
  }
  return plain(text, start, end);
}

/**
 * The text's content lines as positions: where each starts (past its indentation) and ends (before
 * trailing spaces), and its indentation; comment and blank lines are left out, `---` lines end a
 * document. The readers below move through them by index.
 */
class BlockReader {
  readonly #text: string;
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  readonly #indents: number[] = [];
  /** The current line; the document's lines end at #last. */
  #pos = 0;
  #last = 0;
  /** What splitKey found: the key, and where the rest of the line starts. */
  #key = '';
  #rest = 0;

  constructor(text: string) {
    this.#text = text;
  }

  documents(): unknown[] {
    const text = this.#text;
    const docs: unknown[] = [];
    /** Index of each document's first line, and one past the last line of the last document. */
    const bounds: number[] = [0];
    let marked = false;
    for (let ls = 0; ls <= text.length; ) {
      let le = text.indexOf('\n', ls);
      if (le === -1) le = text.length;
      if (text.startsWith('---', ls)) {
        // A document marker alone on its line (a comment may follow after a space).
        let p = ls + 3;
        if (p < le) {
          if (text.charCodeAt(p) !== SPACE) refuse('content on a document marker');
          p = skipSpaces(text, p, le);
          if (p < le && text.charCodeAt(p) !== HASH) refuse('content on a document marker');
        }
        // What comes before the first marker is a document only when it has content.
        if (!marked && this.#starts.length === 0) bounds.pop();
        bounds.push(this.#starts.length);
        marked = true;
      } else {
        const start = skipSpaces(text, ls, le);
        if (start < le && text.charCodeAt(start) !== HASH) {
          this.#starts.push(start);
          this.#ends.push(trimSpacesEnd(text, start, le));
          this.#indents.push(start - ls);
        }
      }
      if (le === text.length) break;
      ls = le + 1;
    }
    const lines = this.#starts.length;
    if (!marked && lines === 0) return docs;
    bounds.push(lines);
    for (let d = 0; d + 1 < bounds.length; d++) docs.push(this.#document(bounds[d]!, bounds[d + 1]!));
    return docs;
  }

  #document(first: number, end: number): unknown {
    if (first === end) return null;
    this.#pos = first;
    this.#last = end;
    const start = this.#starts[first]!;
    const lineEnd = this.#ends[first]!;
    if (!isEntry(this.#text, start, lineEnd) && !this.#splitKey(start, lineEnd)) refuse('a scalar document');
    const value = this.#block(this.#indents[first]!);
    if (this.#pos !== end) refuse('a line outside the document structure');
    return value;
  }

  /** The indentation of the current line; -1 past the document's last line. */
  #indent(): number {
    return this.#pos < this.#last ? this.#indents[this.#pos]! : -1;
  }

  /** The collection whose first line is the current one, at `indent`. */
  #block(indent: number): unknown {
    const at = this.#pos;
    return isEntry(this.#text, this.#starts[at]!, this.#ends[at]!)
      ? this.#sequence(indent)
      : this.#mapping(indent);
  }

  #sequence(indent: number): unknown[] {
    const text = this.#text;
    const out: unknown[] = [];
    for (let lineIndent = this.#indent(); lineIndent >= indent; lineIndent = this.#indent()) {
      if (lineIndent > indent) refuse('a line indented into a sequence entry');
      const pos = this.#pos;
      const start = this.#starts[pos]!;
      const end = this.#ends[pos]!;
      if (!isEntry(text, start, end)) break;
      const rest = skipSpaces(text, start + 1, end);
      if (rest === end || text.charCodeAt(rest) === HASH) {
        this.#pos++;
        out.push(this.#nested(indent, false));
      } else if (isEntry(text, rest, end)) {
        refuse('a sequence inside a sequence entry');
      } else if (this.#splitKey(rest, end)) {
        // `- key: value`: a mapping whose keys line up with this first one.
        const column = indent + (rest - start);
        this.#starts[pos] = rest;
        this.#indents[pos] = column;
        out.push(this.#mapping(column));
      } else {
        this.#pos++;
        out.push(inlineValue(text, rest, end));
        this.#noContinuation(indent);
      }
    }
    return out;
  }

  #mapping(indent: number): Record<string, unknown> {
    const text = this.#text;
    const out: Record<string, unknown> = {};
    for (let lineIndent = this.#indent(); lineIndent >= indent; lineIndent = this.#indent()) {
      if (lineIndent > indent) refuse('a line indented into a mapping entry');
      const end = this.#ends[this.#pos]!;
      if (!this.#splitKey(this.#starts[this.#pos]!, end)) refuse('a mapping line without a key');
      const key = this.#key;
      const rest = this.#rest;
      if (Object.hasOwn(out, key)) refuse('a duplicate key');
      this.#pos++;
      if (rest === end || text.charCodeAt(rest) === HASH) out[key] = this.#nested(indent, true);
      else {
        out[key] = inlineValue(text, rest, end);
        this.#noContinuation(indent);
      }
    }
    return out;
  }

  /**
   * The value of an entry with nothing after its `-` or `:`: the collection on the lines indented
   * under it, or (a mapping's only) a sequence at the key's own indentation, or null.
   */
  #nested(indent: number, inMapping: boolean): unknown {
    const next = this.#indent();
    if (next === -1) return null;
    if (next > indent) return this.#block(next);
    if (inMapping && next === indent && isEntry(this.#text, this.#starts[this.#pos]!, this.#ends[this.#pos]!))
      return this.#sequence(indent);
    return null;
  }

  /** A scalar's next line indented under it would continue it (a multi-line scalar) or be an error. */
  #noContinuation(indent: number): void {
    if (this.#indent() > indent) refuse('a scalar over several lines');
  }

  /**
   * `key: rest` or `key:` in [start, end): sets #key and #rest (where the rest starts, past spaces)
   * and returns true; false when the line is not a simple implicit key.
   */
  #splitKey(start: number, end: number): boolean {
    const text = this.#text;
    let key: string;
    let after: number;
    const c = text.charCodeAt(start);
    if (c === DQUOTE || c === SQUOTE) {
      key = quoted(text, start, end);
      after = skipSpaces(text, quotedEnd, end);
      if (after === end || text.charCodeAt(after) !== COLON) return false;
      // `"k":v` is JSON style, which block mappings do not take.
      if (after + 1 < end && text.charCodeAt(after + 1) !== SPACE) refuse('a value glued to its key');
    } else {
      if (notPlainStart(c)) return false;
      after = colonIndicator(text, start, end);
      if (after === -1) return false;
      const keyEnd = trimSpacesEnd(text, start, after);
      const seen = inSlot(knownKeys, text, start, keyEnd);
      if (seen !== undefined) key = seen;
      else {
        for (let i = start; i < keyEnd; i++) {
          const ch = text.charCodeAt(i);
          if (isFlowIndicator(ch) || ch === 0x2c || (ch === HASH && text.charCodeAt(i - 1) === SPACE))
            refuse('a key this reader does not take');
        }
        key = text.slice(start, keyEnd);
        if (isNonStringPlain(key)) refuse('a key this reader does not take');
        if (key !== '__proto__') rememberKey(key);
      }
    }
    if (after - start > IMPLICIT_KEY_MAX) refuse('an implicit key over the length limit');
    if (key === '__proto__') refuse('a __proto__ key');
    this.#key = key;
    this.#rest = skipSpaces(text, after + 1, end);
    return true;
  }
}
