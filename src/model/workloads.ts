// Namespaces and workloads (Pod, Deployment, StatefulSet): only what decides a workload's config.
import { z } from 'zod';
import {
  type ConvertResult,
  check,
  dnsLabel,
  metadata,
  metadataSchema,
  stringMap,
  toMeta,
} from './fields.js';
import { formatPath } from './issues.js';
import { readProxyConfig } from './proxyconfig.js';
import type { SourceRef, Workload } from './types.js';
import { PROXY_CONFIG_ANNOTATION } from './wellknown.js';

const namespaceSchema = z.object({ metadata: metadataSchema(dnsLabel) });

export function toNamespace(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(namespaceSchema, obj);
  if (!data) return { errors };
  return { resource: { kind: 'Namespace', meta: toMeta(data.metadata, false), source }, errors: [] };
}

const podSchema = z.object({ metadata });
const controllerSchema = z.object({
  metadata,
  spec: z
    .object({
      template: z.object({ metadata: z.object({ annotations: stringMap }).nullish() }).nullish(),
    })
    .nullish(),
});

function workload(
  kind: Workload['kind'],
  m: z.output<typeof metadata>,
  annotation: { text: string; path: PropertyKey[] } | undefined,
  source: SourceRef,
): ConvertResult {
  const resource: Workload = { kind, meta: toMeta(m, true), source };
  if (!annotation) return { resource, errors: [] };
  // Checked here so a broken annotation is reported with its file and object, not at table build.
  const { proxyMetadata, errors } = readProxyConfig(annotation.text, formatPath(annotation.path));
  if (errors.length > 0) {
    // The workload still exists and still gets a config: the mesh-wide one (SPEC §2), so the
    // annotation is reported and set aside rather than the whole object rejected.
    const warnings = errors.map((e) => ({
      ...e,
      message: `${e.message}; ignored, the mesh-wide settings apply`,
    }));
    const why = warnings.map((w) => `${w.path} ${w.message}`).join('; ');
    return {
      resource: { ...resource, proxyConfig: annotation.text, proxyConfigError: why },
      errors: [],
      warnings,
    };
  }
  return { resource: { ...resource, proxyConfig: annotation.text, proxyMetadata }, errors: [] };
}

export function toPod(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(podSchema, obj);
  if (!data) return { errors };
  const text = data.metadata.annotations[PROXY_CONFIG_ANNOTATION];
  const path = ['metadata', 'annotations', PROXY_CONFIG_ANNOTATION];
  return workload('Pod', data.metadata, text === undefined ? undefined : { text, path }, source);
}

/** Deployment or StatefulSet: the pod template's annotation is what the injector reads; else the object's own. */
export function toController(kind: 'Deployment' | 'StatefulSet') {
  return (obj: unknown, source: SourceRef): ConvertResult => {
    const { data, errors } = check(controllerSchema, obj);
    if (!data) return { errors };
    const fromTemplate = data.spec?.template?.metadata?.annotations[PROXY_CONFIG_ANNOTATION];
    const own = data.metadata.annotations[PROXY_CONFIG_ANNOTATION];
    const annotation =
      fromTemplate !== undefined
        ? {
            text: fromTemplate,
            path: ['spec', 'template', 'metadata', 'annotations', PROXY_CONFIG_ANNOTATION],
          }
        : own !== undefined
          ? { text: own, path: ['metadata', 'annotations', PROXY_CONFIG_ANNOTATION] }
          : undefined;
    return workload(kind, data.metadata, annotation, source);
  };
}
