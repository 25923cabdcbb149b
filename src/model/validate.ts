// One parsed object (a YAML document or a List item) → one typed resource, or the reasons it was
// rejected. Kinds are matched on apiVersion too: Knative also has a `Service`, and it is not ours.
import type { ConvertResult } from './fields.js';
import type { ManifestIssue } from './issues.js';
import { describeValue } from './issues.js';
import { checked } from './lazy.js';
import { quickEndpointSlice, quickNamespace, quickService, quickServiceEntry } from './quick.js';
import type { Resource, SourceRef } from './types.js';
import { isMeshConfigFile } from './wellknown.js';

type Convert = (obj: unknown, source: SourceRef) => ConvertResult;

interface KindRule {
  apiVersions: readonly string[];
  namespaced: boolean;
  /** Without zod, for an object it is sure of (quick.ts); undefined: `convert` decides. */
  quick?: (obj: Record<string, unknown>, source: SourceRef) => ConvertResult | undefined;
  convert: Convert;
}

type Checked = ReturnType<typeof checked>;
/** A converter of checked.ts, loaded when first called. */
const lazy =
  (pick: (c: Checked) => Convert): Convert =>
  (obj, source) =>
    pick(checked())(obj, source);

const ISTIO_NETWORKING = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
];

const KINDS = new Map<string, KindRule>([
  [
    'Service',
    { apiVersions: ['v1'], namespaced: true, quick: quickService, convert: lazy((c) => c.toService) },
  ],
  ['Endpoints', { apiVersions: ['v1'], namespaced: true, convert: lazy((c) => c.toEndpoints) }],
  [
    'EndpointSlice',
    {
      apiVersions: ['discovery.k8s.io/v1'],
      namespaced: true,
      quick: quickEndpointSlice,
      convert: lazy((c) => c.toEndpointSlice),
    },
  ],
  [
    'ServiceEntry',
    {
      apiVersions: ISTIO_NETWORKING,
      namespaced: true,
      quick: quickServiceEntry,
      convert: lazy((c) => c.toServiceEntry),
    },
  ],
  [
    'Namespace',
    { apiVersions: ['v1'], namespaced: false, quick: quickNamespace, convert: lazy((c) => c.toNamespace) },
  ],
  ['Pod', { apiVersions: ['v1'], namespaced: true, convert: lazy((c) => c.toPod) }],
  [
    'Deployment',
    { apiVersions: ['apps/v1'], namespaced: true, convert: lazy((c) => c.toController('Deployment')) },
  ],
  [
    'StatefulSet',
    { apiVersions: ['apps/v1'], namespaced: true, convert: lazy((c) => c.toController('StatefulSet')) },
  ],
  ['ConfigMap', { apiVersions: ['v1'], namespaced: true, convert: lazy((c) => c.toMeshConfigMap) }],
  [
    'Istio',
    {
      apiVersions: ['operator.kyma-project.io/v1alpha2'],
      namespaced: true,
      convert: lazy((c) => c.toKymaIstio),
    },
  ],
]);

export interface Conversion {
  resource?: Resource;
  errors: ManifestIssue[];
  /** Reported, but the object still loads. */
  warnings?: ManifestIssue[];
  /** The object as named in messages: `Service default/db`, `Namespace payments`, or just `Service`. */
  label: string;
  /** `Kind/namespace/name` when the object can be identified: the same object across edits. */
  key?: string;
  /** Set when the object is not one of ours (unknown kind): why, for a debug log. */
  ignored?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Names the object from its raw fields, so even a rejected object is named in its error. */
function identify(kind: string, namespaced: boolean, obj: Record<string, unknown>) {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' && meta.name ? meta.name : undefined;
  const ns = namespaced
    ? typeof meta.namespace === 'string' && meta.namespace
      ? meta.namespace
      : 'default'
    : '';
  if (!name) return { label: kind };
  // A valid name is at most 253 characters; a longer one is shown cut, as values are in messages.
  const shown = (s: string) => (s.length > 253 ? `${s.slice(0, 60)}...` : s);
  const label = namespaced ? `${kind} ${shown(ns)}/${shown(name)}` : `${kind} ${shown(name)}`;
  return { label, key: `${kind}/${ns}/${name}` };
}

/** Validates one object from a manifest and converts it to our types. */
export function toResource(obj: unknown, source: SourceRef): Conversion {
  if (!isRecord(obj)) {
    const message = `expected a Kubernetes object (a mapping), got ${describeValue(obj)}`;
    return { errors: [{ path: '', message }], label: '' };
  }
  const { kind, apiVersion } = obj;
  if (kind === undefined && apiVersion === undefined && isMeshConfigFile(source.file)) {
    return { ...checked().meshConfig(obj, '', source), label: 'MeshConfig', key: 'MeshConfig//' };
  }
  const rule = typeof kind === 'string' ? KINDS.get(kind) : undefined;
  if (!rule || typeof kind !== 'string') {
    return {
      errors: [],
      label: '',
      ignored: `${String(apiVersion ?? '')} ${String(kind ?? '(no kind)')}`.trim(),
    };
  }
  const id = identify(kind, rule.namespaced, obj);
  if (apiVersion === undefined || apiVersion === null) {
    return { errors: [{ path: 'apiVersion', message: 'is required' }], ...id };
  }
  if (typeof apiVersion !== 'string' || !rule.apiVersions.includes(apiVersion)) {
    return { errors: [], ...id, ignored: `${String(apiVersion)} ${kind}` };
  }
  const result = rule.quick?.(obj, source) ?? rule.convert(obj, source);
  // By assignment: spreading `result` and `id` into a literal cost V8 several microseconds an object.
  const c: Conversion = { errors: result.errors, label: id.label };
  if (result.resource) c.resource = result.resource;
  if (result.warnings) c.warnings = result.warnings;
  if (id.key !== undefined) c.key = id.key;
  if (!result.resource && result.errors.length === 0) c.ignored = `${apiVersion} ${kind}`;
  return c;
}
