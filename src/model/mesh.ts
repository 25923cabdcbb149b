// Mesh-wide settings: MeshConfig (the `istio` ConfigMap, or a bare `meshconfig.yaml`) and Kyma's
// `Istio` CR, whose `spec.config.enableDNSProxying` is Kyma's switch for the same feature.
import { z } from 'zod';
import { MeshdnsError } from '../errors.js';
import { type ConvertResult, check, metadata } from './fields.js';
import { invalidObject } from './issues.js';
import { parseYamlMapping, readMeshConfig } from './proxyconfig.js';
import type { MeshSettings, SourceRef } from './types.js';
import { KYMA_ISTIO_NAME, MESH_CONFIGMAP } from './wellknown.js';

const configMapSchema = z.object({ metadata, data: z.record(z.string(), z.string()).nullish() });

export function toMeshConfigMap(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(configMapSchema, obj);
  if (!data) return { errors };
  const mesh = data.data?.mesh;
  // Any other ConfigMap is none of our business.
  if (data.metadata.name !== MESH_CONFIGMAP || mesh === undefined) return { errors: [] };
  const parsed = parseYamlMapping(mesh, 'data.mesh');
  if (!parsed.value) return { errors: parsed.errors };
  return meshConfig(parsed.value, 'data.mesh', source);
}

export function meshConfig(value: unknown, path: string, source: SourceRef): ConvertResult {
  const { proxyMetadata, errors } = readMeshConfig(value, path);
  if (errors.length > 0) return { errors };
  return { resource: { kind: 'MeshConfig', proxyMetadata, source }, errors: [] };
}

const kymaSchema = z.object({
  metadata,
  spec: z.object({ config: z.object({ enableDNSProxying: z.boolean().nullish() }).nullish() }).nullish(),
});

export function toKymaIstio(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(kymaSchema, obj);
  if (!data) return { errors };
  if (data.metadata.name !== KYMA_ISTIO_NAME) return { errors: [] };
  const enabled = data.spec?.config?.enableDNSProxying;
  return {
    resource: {
      kind: 'KymaIstio',
      proxyMetadata: {},
      ...(typeof enabled === 'boolean' ? { enableDNSProxying: enabled } : {}),
      source,
    },
    errors: [],
  };
}

/**
 * `--mesh-config FILE`: a bare MeshConfig (what istiod mounts as `/etc/istio/config/mesh`) or the
 * `istio` ConfigMap holding one under `data.mesh`.
 */
export function meshConfigFromText(
  file: string,
  text: string,
): { settings?: MeshSettings; errors: MeshdnsError[] } {
  const source = { file, doc: 0 };
  const parsed = parseYamlMapping(text, '');
  const value = parsed.value as Record<string, unknown> | undefined;
  const result: ConvertResult = !value
    ? { errors: parsed.errors }
    : value.kind === 'ConfigMap'
      ? toMeshConfigMap(value, source)
      : meshConfig(value, '', source);
  const errors = result.errors.map(
    (issue) => new MeshdnsError('MESHDNS_MESH_CONFIG', invalidObject(source, 'MeshConfig', issue).message),
  );
  if (result.resource?.kind === 'MeshConfig' && errors.length === 0)
    return { settings: result.resource, errors };
  if (errors.length === 0) {
    const why = `${file}: no MeshConfig in it (a ConfigMap must be named "${MESH_CONFIGMAP}" with a "mesh" key)`;
    errors.push(new MeshdnsError('MESHDNS_MESH_CONFIG', why));
  }
  return { errors };
}
