// Istio ServiceEntry (networking.istio.io v1, v1beta1, v1alpha3: the same schema).
import { z } from 'zod';
import { type ConvertResult, check, ipAddress, metadata, portNumber, stringMap, toMeta } from './fields.js';
import { describeValue } from './issues.js';
import { isCidr, isDnsLabel, isHostname, isIPAddress, isWildcardHost, normalizeHost } from './names.js';
import { RESOLUTIONS, type SourceRef } from './types.js';

const host = z
  .string()
  .refine((h) => isHostname(h) || isWildcardHost(h), {
    error: (iss) => `${describeValue(iss.input)} is not a hostname`,
  })
  .transform(normalizeHost);

const address = z.string().refine((a) => isIPAddress(a) || isCidr(a), {
  error: (iss) => `${describeValue(iss.input)} is not an IP address or CIDR`,
});

// `.` (own namespace), `*` (all) and `~` (none) are Istio's reserved values; the rest are namespaces.
const exportTarget = z.string().refine((v) => v === '.' || v === '*' || v === '~' || isDnsLabel(v), {
  error: (iss) => `${describeValue(iss.input)} is not a namespace, "." or "*"`,
});

const port = z.object({
  number: portNumber,
  protocol: z.string().nullish(),
  name: z.string().nullish(),
  targetPort: portNumber.nullish(),
});

const endpoint = z.object({
  address: z.string().min(1),
  ports: z.record(z.string(), portNumber).nullish(),
  labels: stringMap,
});

const spec = z
  .object({
    hosts: z.array(host).min(1),
    addresses: z.array(address).nullish(),
    ports: z.array(port).nullish(),
    location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).nullish(),
    resolution: z.enum(RESOLUTIONS).nullish(),
    endpoints: z.array(endpoint).nullish(),
    exportTo: z.array(exportTarget).nullish(),
  })
  .superRefine((s, ctx) => {
    // STATIC endpoints are dialled as given, so they must be addresses; DNS ones may be names.
    const needIP = s.resolution === 'STATIC';
    s.endpoints?.forEach((e, i) => {
      const a = e.address;
      if (a.startsWith('unix://') || isIPAddress(a) || (!needIP && isHostname(a))) return;
      const what = needIP ? 'an IP address (resolution STATIC)' : 'an IP address or hostname';
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints', i, 'address'],
        input: a,
        message: `${describeValue(a)} is not ${what}`,
      });
    });
  });

const status = z
  .object({ addresses: z.array(z.object({ value: ipAddress, host: z.string().min(1) })).nullish() })
  .nullish();

const serviceEntrySchema = z.object({ metadata, spec, status });

export function toServiceEntry(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(serviceEntrySchema, obj);
  if (!data) return { errors };
  const s = data.spec;
  const exportTo = s.exportTo?.length ? s.exportTo : ['*'];
  const resource = {
    kind: 'ServiceEntry' as const,
    meta: toMeta(data.metadata, true),
    hosts: s.hosts,
    addresses: s.addresses ?? [],
    ports: (s.ports ?? []).map((p) => ({
      number: p.number,
      // Istio treats an unset protocol as TCP (after sniffing); we only need the L4 meaning.
      protocol: (p.protocol ?? 'TCP').toUpperCase(),
      name: p.name ?? '',
      ...(p.targetPort ? { targetPort: p.targetPort } : {}),
    })),
    location: s.location === 'MESH_INTERNAL' ? ('MESH_INTERNAL' as const) : ('MESH_EXTERNAL' as const),
    resolution: s.resolution ?? 'NONE',
    endpoints: (s.endpoints ?? []).map((e) => ({
      address: e.address,
      ports: e.ports ?? {},
      labels: e.labels,
    })),
    exportTo,
    statusAddresses: (data.status?.addresses ?? []).map((a) => ({
      value: a.value,
      host: normalizeHost(a.host),
    })),
    source,
  };
  return { resource, errors: [] };
}
