// The fast path for YAML manifests: js-yaml reads the common subset of YAML 4-5x faster than `yaml`
// in multi-document files (2x in one-object files, where js-yaml's fixed cost per call dominates).
// It is used only where it gives exactly what `yaml` (YAML 1.2 core schema, `toJS`) gives; anything
// else returns undefined and the caller parses the file again with `yaml`, whose messages (line,
// column) and per-document recovery stay the reference. A false "undefined" only costs speed.
// test/unit/manifest-fastyaml.test.ts holds the differential test; each rule below names what
// differed or what only the `yaml` path guarantees.
//
// js-yaml 4, not 5: on Node 20, every js-yaml 5 parse builds its parser state with an object spread,
// and V8 11 gives each such object a new hidden class, so the whole parser runs megamorphic: 3-4x
// slower than js-yaml 4 on the same files (Node 24 does not have the problem).
import type { Schema, State } from 'js-yaml';
import { lineYamlDocuments } from './lineyaml.js';
import { jsYamlLib } from './yaml-libs.js';
import {
  CORE_BOOL,
  CORE_FLOAT,
  CORE_INF_NAN,
  CORE_INT,
  CORE_NULL,
  coreFloat,
  coreInt,
  IMPLICIT_KEY_MAX,
  NotFast,
} from './yamlcore.js';

/** Blank lines and comments only (tabs never reach it). Each comment line ends the repeat once. */
const NO_NODE = /^(?:[ \r\n]*#[^\n]*\n)*[ \r\n]*(?:#[^\n]*)?$/;

let schema: Schema | undefined;

/** The core schema as `yaml` reads it, made when js-yaml is first needed. */
function coreSchema(): Schema {
  const { FAILSAFE_SCHEMA, Type } = jsYamlLib();
  schema ??= FAILSAFE_SCHEMA.extend({
    implicit: [
      new Type('tag:yaml.org,2002:null', {
        kind: 'scalar',
        resolve: (s) => CORE_NULL.test(s ?? ''),
        construct: () => null,
      }),
      new Type('tag:yaml.org,2002:bool', {
        kind: 'scalar',
        resolve: (s) => CORE_BOOL.test(s),
        construct: (s: string) => s.charCodeAt(0) === 0x74 || s.charCodeAt(0) === 0x54,
      }),
      new Type('tag:yaml.org,2002:int', {
        kind: 'scalar',
        resolve: (s) => CORE_INT.test(s),
        construct: coreInt,
      }),
      new Type('tag:yaml.org,2002:float', {
        kind: 'scalar',
        resolve: (s) => CORE_FLOAT.test(s) || CORE_INF_NAN.test(s),
        construct: coreFloat,
      }),
    ],
  });
  return schema;
}

/** What js-yaml 4's listener sees of a node; its published type leaves out the properties. */
interface NodeState extends State {
  anchor: string | null;
}

/**
 * Line starts where the two parsers differ, in one pass:
 * - an indented `---`, `...` or `%`: js-yaml takes it for a marker or a directive at the start of a
 *   document; any `%` line: directives (`%YAML 1.1` switches schema, `%TAG`) are `yaml`'s;
 * - `---` with more on its line: js-yaml 4 takes `---a` for a marker and `a`, and reads a mapping or
 *   a sequence on the marker's line, which `yaml` refuses;
 * - indented empty sequence entries (` -`, `- -`) and lines of spaces only: js-yaml 4 reads the
 *   indentation around them more loosely than `yaml` (`yaml` refuses, or ends the sequence).
 */
const LINE_RULES =
  /^(?: *(?:%|- +-(?: +-)* *(?:#.*)?\r?$)| +(?:---|\.\.\.|- *(?:#.*)?\r?$|\r?$)|---(?:[^ \r\n]| +[-?:](?: |\r?$)|.*:(?: |\r?$)))/m;

/**
 * Anywhere, in one pass:
 * - block scalars with an indentation indicator (`|2`) or keep chomping (`|+`): trailing and
 *   leading spaces differ;
 * - a comment right after a quote or a flow indicator: `yaml` wants a space before `#`;
 * - 32-bit and surrogate escapes: `yaml` refuses what is not a code point;
 * - an explicit key (`? key`): keys that are collections or empty.
 */
const CHAR_RULES =
  /[|>](?:[-+]?[1-9]|[1-9]?\+)|["'[\]{},]#|\\U(?!000|0010)|\\u[dD][89a-fA-F]|\?(?:[ \r\n]|$)/;

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
    // Tags (explicit types, `!!binary`, custom tags) start with `!`; a `!` inside a string only
    // costs speed.
    text.includes('!') ||
    LINE_RULES.test(text) ||
    CHAR_RULES.test(text)
  );
}

/** Where the `:` after `at` is, past spaces; -1 when the next character is another. */
function colonAfter(text: string, at: number): number {
  let i = at;
  while (text.charCodeAt(i) === 0x20) i++;
  return text.charCodeAt(i) === 0x3a ? i : -1;
}

/** Where a node that opens at `at` starts: past spaces, line breaks and comments. */
function contentStart(text: string, at: number): number {
  let i = at;
  for (let c = text.charCodeAt(i); ; c = text.charCodeAt(++i)) {
    if (c === 0x23) i = text.indexOf('\n', i) === -1 ? text.length : text.indexOf('\n', i);
    else if (c !== 0x20 && c !== 0x0a && c !== 0x0d) return i;
  }
}

/** The character before `at`, past spaces and line breaks. */
function charBefore(text: string, at: number): number {
  let i = at - 1;
  for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d; c = text.charCodeAt(--i));
  return text.charCodeAt(i);
}

/** Whether a line break comes before the last character of the node (trailing ones do not count). */
function lineBreakIn(text: string, start: number, end: number): boolean {
  let last = end - 1;
  for (let c = text.charCodeAt(last); c === 0x20 || c === 0x0a || c === 0x0d; c = text.charCodeAt(--last));
  const lf = text.indexOf('\n', start);
  return lf !== -1 && lf < last;
}

function column(text: string, at: number): number {
  return at - text.lastIndexOf('\n', at - 1) - 1;
}

/**
 * The continuation lines of a scalar or flow collection must be indented more than its parent
 * collection (YAML 1.2 §7, n+1): js-yaml 4 accepts less, `yaml` refuses.
 */
function underIndented(text: string, start: number, end: number, parentColumn: number): void {
  for (let lf = text.indexOf('\n', start); lf !== -1 && lf < end; lf = text.indexOf('\n', lf + 1)) {
    let i = lf + 1;
    while (text.charCodeAt(i) === 0x20) i++;
    const c = text.charCodeAt(i);
    const blank = c === 0x0a || c === 0x0d || i >= end;
    if (!blank && i - lf - 1 <= parentColumn) throw new NotFast('an under-indented continuation line');
  }
}

const BRACE = 0x7b;
const COLON = 0x3a;
const BRACKET = 0x5b;
const PIPE = 0x7c;
const GREATER = 0x3e;

/**
 * Refuses, node by node, what only `yaml` handles as today:
 * - anchors (`yaml` bounds alias expansion with `maxAliasCount`; js-yaml shares objects without a
 *   bound; an alias without its anchor is a syntax error);
 * - keys that are not strings (`yaml` turns a null key into "", js-yaml into "null"; a collection
 *   key into YAML text, js-yaml into "[object Object]"), and over-long implicit keys;
 * - scalars and flow collections over several lines whose lines are under-indented, which js-yaml 4
 *   accepts and `yaml` refuses (block scalars aside).
 */
function nodeChecker(text: string): (event: 'open' | 'close', state: State) => void {
  /** Per open node, where it opened and where its content starts (`{` there: a flow mapping). */
  const starts: number[] = [];
  const contents: number[] = [];
  return (event, state) => {
    if (event === 'open') {
      starts.push(state.position);
      contents.push(contentStart(text, state.position));
      return;
    }
    const start = starts.pop() ?? 0;
    const content = contents.pop() ?? 0;
    const first = text.charCodeAt(content);
    const node = state as NodeState;
    if (node.anchor !== null) throw new NotFast('an anchor');
    const end = node.position;
    // The parent: the nearest enclosing node that starts elsewhere (js-yaml 4 nests some calls).
    let p = contents.length - 1;
    while (p >= 0 && contents[p] === content) p--;
    const parent = p < 0 ? undefined : contents[p];
    const flow = first === BRACE || first === BRACKET;
    const inLine = node.kind === 'scalar' ? first !== PIPE && first !== GREATER : flow;
    // A block scalar that is a whole document: `yaml` reads a later `#` line at column 0 as its
    // content, js-yaml 4 as a comment.
    if (!inLine && node.kind === 'scalar' && parent === undefined && /\n#/.test(text.slice(content)))
      throw new NotFast('a document block scalar before a comment');
    if (inLine && lineBreakIn(text, content, end)) {
      underIndented(text, content, end, parent === undefined ? -1 : column(text, parent));
    }
    if (node.kind === 'mapping' || node.kind === 'sequence') {
      // An empty key (`: v`) makes no node of its own; js-yaml names it "null".
      if (node.kind === 'mapping' && Object.hasOwn(node.result as object, 'null'))
        throw new NotFast('a null key');
      // A collection in a flow mapping is a value only right after its key's `:` (`{[a]}`,
      // `{x, [a]: b}` are keys).
      if (
        flow &&
        parent !== undefined &&
        text.charCodeAt(parent) === BRACE &&
        charBefore(text, content) !== COLON
      )
        throw new NotFast('a collection as key');
    }
    const colon = colonAfter(text, end);
    if (colon === -1) return; // not a key
    if (node.kind !== 'scalar' || typeof node.result !== 'string')
      throw new NotFast('a key that is not a string');
    if (colon - start > IMPLICIT_KEY_MAX) throw new NotFast('an implicit key over the length limit');
  };
}

/**
 * The value of each YAML document in `text`, deep-equal to `yaml`'s `parseAllDocuments(text)`
 * `.map(d => d.toJS())`, or undefined when the text must be parsed by `yaml` (a syntax error, or a
 * construct where the two differ).
 */
export function fastYamlDocuments(text: string): unknown[] | undefined {
  // The block subset that tools write is read line by line, several times faster again.
  const lines = lineYamlDocuments(text);
  if (lines) return lines;
  if (hasTextOnlyYamlReads(text)) return undefined;
  try {
    const docs = jsYamlLib().loadAll(text, null, { schema: coreSchema(), listener: nodeChecker(text) });
    // A text of blank and comment lines: js-yaml counts one empty document, `yaml` none.
    return docs.length === 1 && docs[0] === null && NO_NODE.test(text) ? [] : docs;
  } catch {
    // A syntax error, a duplicate key, a number out of range, a construct refused above: `yaml`
    // says where and what.
    return undefined;
  }
}
