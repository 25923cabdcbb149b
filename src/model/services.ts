// Kubernetes Services and their endpoints (EndpointSlice, Endpoints).
import { z } from 'zod';
import {
  type ConvertResult,
  check,
  dnsLabel,
  ipAddress,
  metadata,
  metadataSchema,
  portNumber,
  toMeta,
} from './fields.js';
import { describeValue } from './issues.js';
import { ipFamily, isHostname, isIPAddress, normalizeHost } from './names.js';
import type { Endpoint, SourceRef } from './types.js';

const servicePort = z.object({
  name: z.string().nullish(),
  port: portNumber,
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).nullish(),
  targetPort: z.union([portNumber, z.string().min(1)]).nullish(),
});

const clusterIP = (v: string) => v === 'None' || isIPAddress(v);

const serviceSpec = z
  .object({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).nullish(),
    clusterIP: z.string().nullish(),
    // Dual-stack: at most one address per family, the first equal to `clusterIP` (as the API server checks).
    clusterIPs: z.array(z.string()).max(2).nullish(),
    externalName: z.string().nullish(),
    ports: z.array(servicePort).nullish(),
    publishNotReadyAddresses: z.boolean().nullish(),
  })
  .superRefine((spec, ctx) => {
    const bad = (path: PropertyKey[], input: unknown, message: string) =>
      ctx.addIssue({ code: 'custom', path, input, message: `${describeValue(input)} ${message}` });
    if (spec.type === 'ExternalName') {
      if (!spec.externalName) {
        ctx.addIssue({
          code: 'custom',
          path: ['externalName'],
          message: 'is required for type ExternalName',
        });
      } else if (!isHostname(spec.externalName)) {
        bad(['externalName'], spec.externalName, 'is not a hostname');
      }
      return;
    }
    if (spec.clusterIP && !clusterIP(spec.clusterIP)) {
      bad(['clusterIP'], spec.clusterIP, 'is not an IP address or None');
    }
    const ips = spec.clusterIPs ?? [];
    ips.forEach((ip, i) => {
      if (!clusterIP(ip)) bad(['clusterIPs', i], ip, 'is not an IP address or None');
      else if (ip === 'None' && ips.length > 1) bad(['clusterIPs', i], ip, 'must be the only entry');
      else if (i === 1 && ipFamily(ip) === ipFamily(ips[0]!))
        bad(['clusterIPs', i], ip, 'is of the same family as spec.clusterIPs[0]');
    });
    if (spec.clusterIP && ips.length > 0 && ips[0] !== spec.clusterIP) {
      bad(['clusterIPs', 0], ips[0], `does not match spec.clusterIP ${describeValue(spec.clusterIP)}`);
    }
  });

const serviceSchema = z.object({ metadata: metadataSchema(dnsLabel), spec: serviceSpec });

export function toService(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(serviceSchema, obj);
  if (!data) return { errors };
  const spec = data.spec;
  const external = spec.type === 'ExternalName';
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const headless = !external && ips[0] === 'None';
  const resource = {
    kind: 'Service' as const,
    meta: toMeta(data.metadata, true),
    clusterIPs: external || headless ? [] : ips,
    headless,
    ports: (spec.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      protocol: p.protocol ?? 'TCP',
      ...(p.targetPort !== undefined && p.targetPort !== null ? { targetPort: p.targetPort } : {}),
    })),
    publishNotReadyAddresses: spec.publishNotReadyAddresses ?? false,
    source,
    ...(external ? { externalName: normalizeHost(spec.externalName!) } : {}),
  };
  return { resource, errors: [] };
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const sliceSchema = z
  .object({
    metadata,
    addressType: z.enum(['IPv4', 'IPv6', 'FQDN']).nullish(),
    endpoints: z
      .array(
        z.object({
          addresses: z.array(z.string()).min(1),
          conditions: z.object({ ready: z.boolean().nullish() }).nullish(),
          hostname: dnsLabel.nullish(),
        }),
      )
      .nullish(),
  })
  .superRefine((slice, ctx) => {
    const name = slice.metadata.labels[SERVICE_NAME_LABEL];
    if (!name)
      ctx.addIssue({
        code: 'custom',
        path: ['metadata', 'labels', SERVICE_NAME_LABEL],
        message: 'is required',
      });
    if (slice.addressType === 'FQDN') return;
    const family = slice.addressType === 'IPv4' ? 4 : slice.addressType === 'IPv6' ? 6 : 0;
    slice.endpoints?.forEach((e, i) => {
      e.addresses.forEach((a, j) => {
        const ok = family ? ipFamily(a) === family : isIPAddress(a);
        if (!ok) {
          const what = family ? `an ${slice.addressType} address` : 'an IP address';
          ctx.addIssue({
            code: 'custom',
            path: ['endpoints', i, 'addresses', j],
            input: a,
            message: `${describeValue(a)} is not ${what}`,
          });
        }
      });
    });
  });

export function toEndpointSlice(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(sliceSchema, obj);
  // FQDN slices are deprecated and carry names, not addresses; kube-dns and CoreDNS skip them too.
  if (!data || data.addressType === 'FQDN') return { errors };
  const endpoints: Endpoint[] = (data.endpoints ?? []).map((e) => ({
    addresses: e.addresses,
    // An absent `ready` means ready (discovery.k8s.io/v1 EndpointConditions).
    ready: e.conditions?.ready ?? true,
    ...(e.hostname ? { hostname: e.hostname } : {}),
  }));
  const meta = toMeta(data.metadata, true);
  const serviceName = meta.labels[SERVICE_NAME_LABEL]!;
  return { resource: { kind: 'EndpointSlice', meta, serviceName, endpoints, source }, errors: [] };
}

const endpointAddress = z.object({ ip: ipAddress, hostname: dnsLabel.nullish() });
const endpointsSchema = z.object({
  metadata: metadataSchema(dnsLabel),
  subsets: z
    .array(
      z.object({
        addresses: z.array(endpointAddress).nullish(),
        notReadyAddresses: z.array(endpointAddress).nullish(),
      }),
    )
    .nullish(),
});

export function toEndpoints(obj: unknown, source: SourceRef): ConvertResult {
  const { data, errors } = check(endpointsSchema, obj);
  if (!data) return { errors };
  const endpoint =
    (ready: boolean) =>
    (a: z.output<typeof endpointAddress>): Endpoint => ({
      addresses: [a.ip],
      ready,
      ...(a.hostname ? { hostname: a.hostname } : {}),
    });
  const endpoints = (data.subsets ?? []).flatMap((s) => [
    ...(s.addresses ?? []).map(endpoint(true)),
    ...(s.notReadyAddresses ?? []).map(endpoint(false)),
  ]);
  const meta = toMeta(data.metadata, true);
  return { resource: { kind: 'Endpoints', meta, serviceName: meta.name, endpoints, source }, errors: [] };
}
