// XdsVipRoute[] <-> meshdns.v1.VipRoutes bytes; decoding checks what the VIP proxy will bind and dial.
import { isIP } from 'node:net';
import { MeshdnsError } from '../errors.js';
import { VIP_ROUTES_TYPE_URL, xdsMessages } from './proto.js';
import type { XdsResolution, XdsResource, XdsVipBackend, XdsVipRoute } from './types.js';

const RESOLUTIONS: readonly XdsResolution[] = ['STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'];

interface WireRoute {
  vip?: string;
  port?: number;
  host?: string;
  resolution?: string;
  endpoints?: { address?: string; port?: number }[];
  hostPort?: number;
  origin?: string;
}

export function encodeVipRoutes(routes: readonly XdsVipRoute[]): Uint8Array {
  const { vipRoutes } = xdsMessages();
  return vipRoutes.encode(vipRoutes.fromObject({ routes })).finish();
}

export function decodeVipRoutes(bytes: Uint8Array): XdsVipRoute[] {
  const { vipRoutes } = xdsMessages();
  let message: { routes?: WireRoute[] };
  try {
    message = vipRoutes.toObject(vipRoutes.decode(bytes), {
      arrays: true,
      enums: String,
      defaults: true,
    }) as typeof message;
  } catch (err) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `VipRoutes: not a valid message: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return (message.routes ?? []).map(route);
}

export function vipRoutesResource(routes: readonly XdsVipRoute[]): XdsResource {
  return { typeUrl: VIP_ROUTES_TYPE_URL, value: encodeVipRoutes(routes) };
}

/** The routes in a VipRoutes response: one resource, or none for no routes. */
export function vipRoutesFromResources(resources: readonly XdsResource[]): XdsVipRoute[] {
  if (resources.length === 0) return [];
  if (resources.length > 1) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `VipRoutes: ${resources.length} resources, expected one`);
  }
  const [resource] = resources as [XdsResource];
  if (resource.typeUrl !== VIP_ROUTES_TYPE_URL) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `VipRoutes: resource of type ${resource.typeUrl}`);
  }
  return decodeVipRoutes(resource.value);
}

function route(wire: WireRoute, i: number): XdsVipRoute {
  const where = `VipRoutes routes[${i}]`;
  const fail = (field: string, value: unknown, why: string): never => {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `${where}: ${field} ${JSON.stringify(value)} ${why}`);
  };
  const vip = wire.vip ?? '';
  if (isIP(vip) === 0) fail('vip', vip, 'is not an IP address');
  const port = checkPort(wire.port, () => fail('port', wire.port, 'is not a port (1-65535)'));
  const resolution = wire.resolution as XdsResolution;
  if (!RESOLUTIONS.includes(resolution)) fail('resolution', wire.resolution, `is not one of ${RESOLUTIONS}`);
  const hostPort = checkPort(wire.hostPort, () => fail('hostPort', wire.hostPort, 'is not a port (1-65535)'));
  const endpoints = (wire.endpoints ?? []).map(
    (e, j): XdsVipBackend => ({
      address: e.address || fail(`endpoints[${j}].address`, e.address ?? '', 'is empty'),
      port: checkPort(e.port, () => fail(`endpoints[${j}].port`, e.port, 'is not a port (1-65535)')),
    }),
  );
  return { vip, port, host: wire.host ?? '', resolution, endpoints, hostPort, origin: wire.origin ?? '' };
}

function checkPort(value: number | undefined, fail: () => never): number {
  if (value === undefined || value < 1 || value > 65535) return fail();
  return value;
}
