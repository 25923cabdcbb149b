// zod schemas for the fields every kind shares. Optional fields accept `null` as absent:
// `kubectl ... -o yaml` writes `creationTimestamp: null` and `endpoints: null`.
import { z } from 'zod';
import { describeValue, issuesFromZod, type ManifestIssue } from './issues.js';
import { isDnsLabel, isDnsSubdomain, isHostname, isIPAddress, normalizeHost } from './names.js';
import type { ObjectMeta, Resource } from './types.js';

/** Parses `value` with `schema`, returning our issues (paths prefixed with `prefix`) on failure. */
export function check<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: readonly PropertyKey[] = [],
): { data?: z.output<S>; errors: ManifestIssue[] } {
  const result = schema.safeParse(value, { reportInput: true });
  return result.success ? { data: result.data, errors: [] } : { errors: issuesFromZod(result.error, prefix) };
}

export const stringMap = z
  .record(z.string(), z.string())
  .nullish()
  .transform((v) => v ?? {});

export const dnsLabel = z.string().refine(isDnsLabel, {
  error: (iss) => `${describeValue(iss.input)} is not a DNS label (a-z, 0-9 and '-', at most 63 characters)`,
});

export const dnsSubdomain = z.string().refine(isDnsSubdomain, {
  error: (iss) =>
    `${describeValue(iss.input)} is not a DNS subdomain (a-z, 0-9, '-' and '.', at most 253 characters)`,
});

export const portNumber = z.number().refine((n) => Number.isInteger(n) && n >= 1 && n <= 65535, {
  error: (iss) => `${describeValue(iss.input)} is not a port number (1-65535)`,
});

export const ipAddress = z.string().refine(isIPAddress, {
  error: (iss) => `${describeValue(iss.input)} is not an IP address`,
});

/** A host name, returned in our internal form (lower-case, no trailing dot). */
export const hostname = z
  .string()
  .refine(isHostname, { error: (iss) => `${describeValue(iss.input)} is not a hostname` })
  .transform(normalizeHost);

/** `metadata`; an absent `metadata` reads as `{}` so the error names `metadata.name`. */
export function metadataSchema(name: z.ZodType<string> = dnsSubdomain) {
  return z.preprocess(
    (v) => v ?? {},
    z.object({
      name,
      namespace: dnsLabel.nullish(),
      labels: stringMap,
      annotations: stringMap,
      creationTimestamp: z.string().nullish(),
    }),
  );
}

export const metadata = metadataSchema();

/** Kubernetes puts an object without `metadata.namespace` in `default`; cluster-scoped kinds get ''. */
export function toMeta(m: z.output<typeof metadata>, namespaced: boolean): ObjectMeta {
  const meta: ObjectMeta = {
    name: m.name,
    namespace: namespaced ? (m.namespace ?? 'default') : '',
    labels: m.labels,
    annotations: m.annotations,
  };
  if (m.creationTimestamp) meta.creationTimestamp = m.creationTimestamp;
  return meta;
}

/** What a kind's converter returns: the resource, or why the object was rejected. */
export interface ConvertResult {
  resource?: Resource;
  errors: ManifestIssue[];
  /** Reported like errors, but the object still loads (a workload with a broken annotation). */
  warnings?: ManifestIssue[];
}
