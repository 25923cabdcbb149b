// A manifest file's text → its objects: multi-document YAML, or JSON; `List`s are unpacked.
import { MeshdnsError } from '../errors.js';
import { fastYamlDocuments } from './fastyaml.js';
import { describeYamlError, formatSource, invalidObject } from './issues.js';
import { flatName } from './names.js';
import { NO_ITEMS } from './quick.js';
import { collectResources, type ManifestObject } from './resources.js';
import type { Resource, SourceRef } from './types.js';
import { toResource } from './validate.js';
import { yamlLib } from './yaml-libs.js';

export interface ParsedManifest {
  file: string;
  /** The text (or one of its YAML documents) is not valid YAML/JSON; a watcher keeps the last good objects. */
  syntaxErrors: MeshdnsError[];
  /** Every object of a known kind, in file order, with its resource or its errors. */
  objects: ManifestObject[];
  /** Objects that are not ours (unknown kinds, other ConfigMaps), named for a debug log. */
  ignored: string[];
}

// Bounds alias expansion ("billion laughs"): a manifest cannot make us build a huge object.
const TO_JS = { maxAliasCount: 100 } as const;

function invalid(source: SourceRef, message: string): MeshdnsError {
  return new MeshdnsError('MESHDNS_MANIFEST_INVALID', `${formatSource(source)}: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `kind: List` (kubectl) or `ServiceList` (the API): its items, which API lists send without kind. */
function listItems(value: Record<string, unknown>): unknown[] | undefined {
  const { kind, apiVersion, items } = value;
  if (typeof kind !== 'string' || !kind.endsWith('List') || !Array.isArray(items)) return undefined;
  if (kind === 'List') return items;
  const itemKind = kind.slice(0, -'List'.length);
  return items.map((item) =>
    isRecord(item) && item.kind === undefined ? { apiVersion, kind: itemKind, ...item } : item,
  );
}

function addObjects(out: ParsedManifest, value: unknown, source: SourceRef): void {
  if (value === null || value === undefined) return; // an empty document (a trailing `---`)
  // Lists are unpacked at the top only; a List inside a List is not a Kubernetes shape.
  const items = isRecord(value) && source.item === undefined ? listItems(value) : undefined;
  if (items) {
    for (const [i, item] of items.entries()) addObjects(out, item, { ...source, item: i });
    return;
  }
  const object = toManifestObject(value, source);
  if ('ignored' in object) out.ignored.push(`${formatSource(source)} ${object.ignored}`);
  else out.objects.push(object);
}

/** Most objects have no errors: they share the model's one frozen empty list (never changed once made). */
const NO_ERRORS: MeshdnsError[] = NO_ITEMS;

/**
 * One parsed object (a YAML document, a List item, an object from the Kubernetes API) → its resource
 * and its errors in the house form, or why it is not one of ours.
 */
export function toManifestObject(value: unknown, source: SourceRef): ManifestObject | { ignored: string } {
  const c = toResource(value, source);
  if (c.ignored) return { ignored: c.ignored };
  const issues = c.warnings ? [...c.errors, ...c.warnings] : c.errors;
  const errors =
    issues.length === 0 ? NO_ERRORS : issues.map((issue) => invalidObject(source, c.label, issue));
  // By assignment: a spread of a conditional literal cost V8 microseconds an object. Label and key are
  // kept with the object for as long as it exists: flat strings, not the pieces they were joined from.
  const object: ManifestObject = { source, label: flatName(c.label), errors };
  if (c.key) object.key = flatName(c.key);
  if (c.resource && c.errors.length === 0) object.resource = c.resource;
  return object;
}

/**
 * V8's reason, with the place as line and column: Node 20 says only "at position N", Node 22 and later
 * add the line and column themselves, so the message is ours in both.
 */
function jsonError(e: Error, text: string): string {
  const m = /^(.*?)(?: in JSON)? at position (\d+)/.exec(e.message);
  if (!m) return e.message;
  const at = Number(m[2]);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `line ${line} column ${at - before.lastIndexOf('\n')}: ${m[1]}`;
}

function parseJson(out: ParsedManifest, text: string): void {
  let value: unknown;
  const json = text.replace(/^\uFEFF/, '');
  try {
    value = JSON.parse(json);
  } catch (e) {
    const why = jsonError(e as Error, json);
    out.syntaxErrors.push(new MeshdnsError('MESHDNS_MANIFEST_INVALID', `${out.file}: invalid JSON: ${why}`));
    return;
  }
  addObjects(out, value, { file: out.file, doc: 0 });
}

function parseYaml(out: ParsedManifest, text: string): void {
  // Most files take the fast path; the rest (and every file with an error) are read by `yaml` below.
  const values = fastYamlDocuments(text);
  if (values) {
    for (const [i, value] of values.entries()) addObjects(out, value, { file: out.file, doc: i });
    return;
  }
  yamlLib()
    .parseAllDocuments(text)
    .forEach((doc, i) => {
      const source = { file: out.file, doc: i };
      if (doc.errors.length > 0) {
        out.syntaxErrors.push(invalid(source, `YAML syntax error ${describeYamlError(doc.errors[0]!)}`));
        return;
      }
      let value: unknown;
      try {
        value = doc.toJS(TO_JS);
      } catch (e) {
        out.syntaxErrors.push(invalid(source, `YAML could not be read: ${(e as Error).message}`));
        return;
      }
      addObjects(out, value, source);
    });
}

/** Parses one manifest file. `file` is used as given in sources and messages (a relative path reads best). */
export function parseManifest(file: string, text: string): ParsedManifest {
  const out: ParsedManifest = { file, syntaxErrors: [], objects: [], ignored: [] };
  if (file.toLowerCase().endsWith('.json')) parseJson(out, text);
  else parseYaml(out, text);
  return out;
}

/** The valid resources of one file, and everything wrong with it; each bad object is rejected alone. */
export function parseManifestText(
  file: string,
  text: string,
): { resources: Resource[]; errors: MeshdnsError[] } {
  const parsed = parseManifest(file, text);
  const { resources, errors } = collectResources(parsed.objects);
  return {
    resources,
    errors: [...parsed.syntaxErrors, ...parsed.objects.flatMap((o) => o.errors), ...errors],
  };
}
