// The patch formats the API server accepts on PATCH, written from the RFCs: JSON Patch (RFC 6902, paths are
// JSON Pointers, RFC 6901) and JSON Merge Patch (RFC 7386). Inputs are never mutated: each returns a copy.
import { isDeepStrictEqual } from 'node:util';
import { badRequest, invalid } from './status.js';

type Json = unknown;
interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Applies an RFC 6902 patch. A malformed document is 400 (the server cannot decode it); one that decodes but
 * does not apply — a failed `test`, a missing path — is 422, as kube-apiserver answers since 1.12.
 */
export function applyJsonPatch(doc: Json, patch: unknown): Json {
  const ops = decodeOperations(patch);
  let out = structuredClone(doc);
  for (const op of ops) out = applyOperation(out, op);
  return out;
}

function decodeOperations(patch: unknown): Operation[] {
  if (!Array.isArray(patch)) throw badRequest('json patch: the body must be an array of operations');
  return patch.map((op, i) => {
    if (typeof op !== 'object' || op === null)
      throw badRequest(`json patch: operation ${i} is not an object`);
    const o = op as Record<string, unknown>;
    if (typeof o.op !== 'string' || !OPS.has(o.op))
      throw badRequest(`json patch: unknown op in operation ${i}`);
    if (typeof o.path !== 'string') throw badRequest(`json patch: operation ${i} has no path`);
    if ((o.op === 'move' || o.op === 'copy') && typeof o.from !== 'string') {
      throw badRequest(`json patch: ${o.op} operation ${i} has no from`);
    }
    if ((o.op === 'add' || o.op === 'replace' || o.op === 'test') && !('value' in o)) {
      throw badRequest(`json patch: ${o.op} operation ${i} has no value`);
    }
    return o as unknown as Operation;
  });
}

function applyOperation(doc: Json, op: Operation): Json {
  switch (op.op) {
    case 'test': {
      if (!isDeepStrictEqual(readForTest(doc, op.path), op.value)) {
        throw invalid(`testing value ${op.path} failed`);
      }
      return doc;
    }
    case 'add':
      return add(doc, op.path, structuredClone(op.value));
    case 'remove':
      return remove(doc, op.path);
    case 'replace':
      read(doc, op.path); // replace needs the target to exist (RFC 6902 §4.3)
      return add(remove(doc, op.path), op.path, structuredClone(op.value));
    case 'move': {
      const value = read(doc, op.from!);
      return add(remove(doc, op.from!), op.path, value);
    }
    default: // copy
      return add(doc, op.path, structuredClone(read(doc, op.from!)));
  }
}

/** RFC 6901: `/a/b~1c` → ['a', 'b/c']; `~1` is unescaped before `~0`. */
function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw invalid(`json patch: path "${pointer}" does not start with /`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function child(parent: Json, token: string, pointer: string): Json {
  if (Array.isArray(parent)) {
    const i = arrayIndex(token, parent.length - 1, pointer);
    return parent[i];
  }
  if (typeof parent === 'object' && parent !== null && Object.hasOwn(parent, token)) {
    return (parent as Record<string, Json>)[token];
  }
  throw invalid(`json patch: doc is missing path: "${pointer}"`);
}

function read(doc: Json, pointer: string): Json {
  let at = doc;
  for (const t of tokens(pointer)) at = child(at, t, pointer);
  return at;
}

/**
 * As kube-apiserver's JSON patch library does, `test` reads an absent member of an existing object as null:
 * `{"op":"test","path":"/status/addresses","value":null}` passes while there are none yet.
 */
function readForTest(doc: Json, pointer: string): Json {
  if (pointer === '') return doc;
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length - 1, pointer)];
  return Object.hasOwn(parent as object, last) ? (parent as Record<string, Json>)[last] : null;
}

function arrayIndex(token: string, max: number, pointer: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw invalid(`json patch: "${pointer}" is not an array index`);
  const i = Number(token);
  if (i > max) throw invalid(`json patch: index out of range in "${pointer}"`);
  return i;
}

/** The container that holds the pointer's last token, and that token. */
function parentOf(doc: Json, pointer: string): { parent: Json; last: string } {
  const ts = tokens(pointer);
  if (ts.length === 0) throw invalid('json patch: the whole document cannot be the target here');
  let at = doc;
  for (const t of ts.slice(0, -1)) at = child(at, t, pointer);
  if (typeof at !== 'object' || at === null) throw invalid(`json patch: doc is missing path: "${pointer}"`);
  return { parent: at, last: ts[ts.length - 1]! };
}

function add(doc: Json, pointer: string, value: Json): Json {
  if (pointer === '') return value;
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : arrayIndex(last, parent.length, pointer);
    parent.splice(i, 0, value);
  } else {
    (parent as Record<string, Json>)[last] = value;
  }
  return doc;
}

function remove(doc: Json, pointer: string): Json {
  const { parent, last } = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(last, parent.length - 1, pointer), 1);
  } else {
    if (!Object.hasOwn(parent as object, last))
      throw invalid(`json patch: doc is missing path: "${pointer}"`);
    delete (parent as Record<string, Json>)[last];
  }
  return doc;
}

/** RFC 7386: objects merge key by key, `null` deletes a key, anything else (arrays too) replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, Json> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, Json>) }
      : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}
