// ProxyConfig and MeshConfig arrive as YAML text inside another object (the `proxy.istio.io/config`
// annotation, the `istio` ConfigMap's `mesh` key). We read only `proxyMetadata`, as Istio's
// proto parsing would: a map of strings, so an unquoted `true` is an error, not a silent guess.
import { z } from 'zod';
import { check } from './fields.js';
import { describeValue, describeYamlError, type ManifestIssue } from './issues.js';
import { yamlLib } from './yaml-libs.js';

const proxyMetadata = z.record(z.string(), z.string()).nullish();
const proxyConfigSchema = z.object({ proxyMetadata });
const meshConfigSchema = z.object({ defaultConfig: z.object({ proxyMetadata }).nullish() });

export interface ProxyMetadataResult {
  proxyMetadata: Record<string, string>;
  errors: ManifestIssue[];
}

/** Nested issues read `<outer field> <inner field> <what>`, e.g. `data.mesh defaultConfig.x must be ...`. */
function nest(outer: string, issues: ManifestIssue[]): ManifestIssue[] {
  return issues.map((i) => ({ path: i.path ? `${outer} ${i.path}` : outer, message: i.message }));
}

/** YAML text that must hold one mapping (or nothing, read as `{}`). */
export function parseYamlMapping(text: string, path: string): { value?: object; errors: ManifestIssue[] } {
  const doc = yamlLib().parseDocument(text);
  if (doc.errors.length > 0) {
    return { errors: [{ path, message: `is not valid YAML ${describeYamlError(doc.errors[0]!)}` }] };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { errors: [{ path, message: `is not valid YAML: ${(e as Error).message}` }] };
  }
  if (value === null || value === undefined) return { value: {}, errors: [] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { errors: [{ path, message: `must be a YAML mapping (got ${describeValue(value)})` }] };
  }
  return { value, errors: [] };
}

/** `proxyMetadata` of a ProxyConfig given as YAML text at `path`. */
export function readProxyConfig(text: string, path: string): ProxyMetadataResult {
  const parsed = parseYamlMapping(text, path);
  if (!parsed.value) return { proxyMetadata: {}, errors: parsed.errors };
  const { data, errors } = check(proxyConfigSchema, parsed.value);
  return { proxyMetadata: data?.proxyMetadata ?? {}, errors: nest(path, errors) };
}

/** `defaultConfig.proxyMetadata` of a MeshConfig object; `path` prefixes error fields (may be ''). */
export function readMeshConfig(value: unknown, path: string): ProxyMetadataResult {
  const { data, errors } = check(meshConfigSchema, value);
  return {
    proxyMetadata: data?.defaultConfig?.proxyMetadata ?? {},
    errors: path ? nest(path, errors) : errors,
  };
}
