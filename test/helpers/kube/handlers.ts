// The object verbs of the test API server — list, get, create, update, patch, delete — on one resource
// path, with the status-subresource rule of the real server: writes to `/status` change only `.status`,
// and writes to the object keep the stored `.status`.
import { applyJsonPatch, applyMergePatch } from './patch.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { badRequest, KubeStatusError } from './status.js';
import type { KubeObject, ObjectStore } from './store.js';

/** A resource path taken apart: `/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>/<subresource>`. */
export interface Target {
  type: ResourceType;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export interface Reply {
  code: number;
  body: unknown;
}

/** The object as the request's version shows it: stored once, served under each version of its group. */
export function render(target: Target, obj: KubeObject): KubeObject {
  return { ...obj, apiVersion: apiVersionOf(target.type.group, target.version), kind: target.type.kind };
}

function namespaceOf(target: Target): string {
  return target.type.namespaced ? (target.namespace ?? '') : '';
}

export function list(store: ObjectStore, target: Target, query: URLSearchParams): Reply {
  const labels = labelSelector(query.get('labelSelector'));
  const fields = fieldSelector(query.get('fieldSelector'));
  const ns = target.type.namespaced ? target.namespace : undefined;
  const items = store
    .list(target.type, ns)
    .filter((o) => labels(o) && fields(o))
    .sort((a, b) => key(a).localeCompare(key(b)))
    .map((o) => render(target, o));
  return {
    code: 200,
    body: {
      apiVersion: apiVersionOf(target.type.group, target.version),
      kind: `${target.type.kind}List`,
      metadata: { resourceVersion: String(store.resourceVersion) },
      items,
    },
  };
}

function key(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export function get(store: ObjectStore, target: Target): Reply {
  return { code: 200, body: render(target, store.get(target.type, namespaceOf(target), target.name!)) };
}

export function create(store: ObjectStore, target: Target, body: unknown): Reply {
  const obj = objectBody(body);
  const ns = namespaceOf(target);
  if (target.type.namespaced && obj.metadata.namespace && obj.metadata.namespace !== ns) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (!obj.metadata.name && !obj.metadata.generateName) {
    throw new KubeStatusError(
      422,
      'Invalid',
      `${target.type.kind} "" is invalid: metadata.name: Required value`,
    );
  }
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  const created = store.create(target.type, { ...obj, metadata: { ...meta, namespace: ns } });
  return { code: 201, body: render(target, created) };
}

export function update(store: ObjectStore, target: Target, body: unknown): Reply {
  const obj = objectBody(body);
  if (obj.metadata.name !== target.name) {
    throw badRequest('the name of the object does not match the name on the URL');
  }
  const old = store.get(target.type, namespaceOf(target), target.name!);
  const next = withStatusRule(target, old, {
    ...obj,
    metadata: { ...obj.metadata, namespace: namespaceOf(target) },
  });
  return { code: 200, body: render(target, store.replace(target.type, next)) };
}

export function patch(store: ObjectStore, target: Target, body: unknown, contentType: string): Reply {
  const old = store.get(target.type, namespaceOf(target), target.name!);
  const patched = applyPatch(target, old, body, contentType.split(';')[0]!.trim());
  const next = withStatusRule(target, old, patched);
  // A resourceVersion the patch itself sets is a precondition, as on PUT; otherwise the patch applies to
  // whatever is stored, so the stored version passes.
  next.metadata = { ...next.metadata, namespace: old.metadata.namespace, name: old.metadata.name };
  return { code: 200, body: render(target, store.replace(target.type, next)) };
}

export function remove(store: ObjectStore, target: Target): Reply {
  return { code: 200, body: render(target, store.delete(target.type, namespaceOf(target), target.name!)) };
}

function applyPatch(target: Target, old: KubeObject, body: unknown, contentType: string): KubeObject {
  const shown = render(target, old);
  let out: unknown;
  switch (contentType) {
    case 'application/json-patch+json':
      out = applyJsonPatch(shown, body);
      break;
    case 'application/merge-patch+json':
      out = applyMergePatch(shown, body);
      break;
    case 'application/strategic-merge-patch+json':
      // Custom resources have no patch strategy, so the real server refuses it for them; for built-in types
      // this server merges as RFC 7386 does (lists replaced, not merged by key: a known simplification).
      if (target.type.custom) throw unsupported(contentType);
      out = applyMergePatch(shown, body);
      break;
    default:
      throw unsupported(contentType);
  }
  return objectBody(out);
}

function unsupported(contentType: string): KubeStatusError {
  return new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format (${contentType}) - accepted media types include: ` +
      'application/json-patch+json, application/merge-patch+json',
  );
}

/** `/status` writes take only the new status; object writes keep the stored status (if it has a subresource). */
function withStatusRule(target: Target, old: KubeObject, next: KubeObject): KubeObject {
  if (!target.type.status) return next;
  if (target.subresource === 'status') {
    const out = structuredClone(old);
    if (next.status === undefined) delete out.status;
    else out.status = next.status;
    out.metadata.resourceVersion = next.metadata.resourceVersion;
    return out;
  }
  const out = { ...next };
  if (old.status === undefined) delete out.status;
  else out.status = old.status;
  return out;
}

function objectBody(body: unknown): KubeObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the body of the request is not a JSON object');
  }
  const obj = body as KubeObject;
  if (typeof obj.metadata !== 'object' || obj.metadata === null) {
    return { ...obj, metadata: {} };
  }
  return obj;
}
