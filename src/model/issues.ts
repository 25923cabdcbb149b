// Turns validation failures into the house error shape:
// `MESHDNS_MANIFEST_INVALID: mesh/db.yaml doc 2 ServiceEntry default/db: spec.hosts[0] "" is not a hostname`.
import type { YAMLError } from 'yaml';
import type { z } from 'zod';
import { MeshdnsError } from '../errors.js';
import { API_SOURCE_FILE, type SourceRef } from './types.js';

/** One thing wrong with an object: the field (`spec.hosts[0]`, empty for the whole object) and what. */
export interface ManifestIssue {
  path: string;
  message: string;
}

/** `CODE: message`, the form errors are printed and logged in. */
export function formatError(error: Error): string {
  return error instanceof MeshdnsError ? `${error.code}: ${error.message}` : error.message;
}

/** `spec.hosts[0]`, `metadata.labels["kubernetes.io/service-name"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** A value as quoted in messages, cut short so a huge input cannot make a huge log line. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

function expectedType(expected: string, input: unknown): string {
  const got = describeValue(input);
  // `ISTIO_META_DNS_CAPTURE: true` is a YAML boolean; Kubernetes and Istio want the string.
  const hint = expected === 'string' && (typeof input === 'boolean' || typeof input === 'number');
  return `must be ${EXPECTED[expected] ?? expected} (got ${got}${hint ? `; quote it: "${got}"` : ''})`;
}

function zodMessage(issue: z.core.$ZodIssue): string {
  const input = issue.input;
  switch (issue.code) {
    case 'invalid_type':
      return input === undefined ? 'is required' : expectedType(issue.expected, input);
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'string') return 'must not be empty';
      return `must be at least ${issue.minimum} (got ${describeValue(input)})`;
    case 'too_big':
      if (issue.origin === 'array') return `must have at most ${issue.maximum} items`;
      return `must be at most ${issue.maximum} (got ${describeValue(input)})`;
    case 'invalid_value':
      return `${describeValue(input)} is not one of ${issue.values.join(', ')}`;
    case 'invalid_union':
      return unionMessage(issue.errors, input);
    default:
      return issue.message;
  }
}

// A union fails in every branch. A branch that got the right type but a bad value says the most
// (`targetPort: 0`); otherwise list the types that would have been accepted.
function unionMessage(branches: z.core.$ZodIssue[][], input: unknown): string {
  const isTypeMiss = (i: z.core.$ZodIssue) => i.code === 'invalid_type' && i.path.length === 0;
  const valueMiss = branches.find((b) => b.length > 0 && !b.some(isTypeMiss));
  if (valueMiss) return zodMessage(valueMiss[0]!);
  const types = branches.flatMap((b) =>
    b.filter(isTypeMiss).map((i) => (i.code === 'invalid_type' ? i.expected : '')),
  );
  return `must be ${types.map((t) => EXPECTED[t] ?? t).join(' or ')} (got ${describeValue(input)})`;
}

export function issuesFromZod(error: z.core.$ZodError, prefix: readonly PropertyKey[] = []): ManifestIssue[] {
  return error.issues.map((issue) => ({
    path: formatPath([...prefix, ...issue.path]),
    message: zodMessage(issue),
  }));
}

/** `mesh/db.yaml doc 2`, for an item of a List `mesh/all.yaml doc 0 item 3`, from the API `k8s`. */
export function formatSource(source: SourceRef): string {
  // An object read from the Kubernetes API has no document; its kind and name follow in messages.
  if (source.file === API_SOURCE_FILE) return source.file;
  const item = source.item === undefined ? '' : ` item ${source.item}`;
  return `${source.file} doc ${source.doc}${item}`;
}

/** `<file> doc <n> <Kind> <ns>/<name>: <field> <what is wrong>`. */
export function invalidObject(source: SourceRef, label: string, issue: ManifestIssue): MeshdnsError {
  const where = label ? `${formatSource(source)} ${label}` : formatSource(source);
  const what = issue.path ? `${issue.path} ${issue.message}` : issue.message;
  return new MeshdnsError('MESHDNS_MANIFEST_INVALID', `${where}: ${what}`);
}

/** `at line 4, column 1: Flow sequence ... must end with a ]`: yaml's message without its code excerpt. */
export function describeYamlError(e: YAMLError): string {
  const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return e.linePos ? `at line ${e.linePos[0].line}, column ${e.linePos[0].col}: ${what}` : what;
}
