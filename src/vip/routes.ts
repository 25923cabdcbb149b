// What the VIP proxy listens on and where each listener leads (SPEC §6).
import { ipFamily } from '../dns/index.js';
import type { Resolution } from '../model/index.js';
// The list alone (no imports): the agent checks a snapshot's routes without loading the model.
import { RESOLUTIONS } from '../model/types.js';
import type { Slicer } from '../nametable/index.js';

export interface VipBackend {
  /** An IP address, or a host name to resolve through the upstream resolvers. */
  address: string;
  port: number;
}

/** One `VIP:port` of a ServiceEntry host and how to reach its backend. */
export interface VipRoute {
  vip: string;
  port: number;
  /** The ServiceEntry host the VIP stands for. */
  host: string;
  resolution: Resolution;
  /**
   * `STATIC`: the endpoints. `DNS`/`DNS_ROUND_ROBIN`: the endpoints' addresses if given (resolved
   * when they are names), else the host itself on `hostPort` (the port's targetPort or number).
   */
  endpoints: VipBackend[];
  hostPort: number;
  /** "ServiceEntry ns/name", for logs and stats. */
  origin: string;
}

export function routeKey(r: Pick<VipRoute, 'vip' | 'port'>): string {
  return r.vip.includes(':') ? `[${r.vip}]:${r.port}` : `${r.vip}:${r.port}`;
}

/** Listeners are replaced when anything about the backend changes. */
export function sameRoute(a: VipRoute, b: VipRoute): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
/** A VIP the proxy listens on: an address of one host, never "any" (0.0.0.0, ::). */
const isVip = (v: unknown) =>
  typeof v === 'string' && ipFamily(v) !== 0 && v !== '0.0.0.0' && !/^[0:]+$/.test(v);

/** What is wrong with one route read back from a file (a restart's snapshot), or undefined. */
function routeProblem(r: unknown): string | undefined {
  if (!isRecord(r)) return 'not a route';
  if (!isVip(r.vip)) return `vip ${JSON.stringify(r.vip)} is not an IP address of one host`;
  if (!isPort(r.port)) return `port ${JSON.stringify(r.port)} is not a port (1-65535)`;
  if (!RESOLUTIONS.includes(r.resolution as Resolution))
    return `resolution ${JSON.stringify(r.resolution)} is not one of ${RESOLUTIONS}`;
  if (!isPort(r.hostPort)) return `hostPort ${JSON.stringify(r.hostPort)} is not a port (1-65535)`;
  if (typeof r.host !== 'string' || typeof r.origin !== 'string') return 'host or origin missing';
  if (!Array.isArray(r.endpoints)) return 'endpoints: not a list';
  for (const [j, e] of r.endpoints.entries()) {
    if (!isRecord(e) || typeof e.address !== 'string' || e.address === '' || !isPort(e.port))
      return `endpoints[${j}]: not an address and port (1-65535)`;
  }
  return undefined;
}

/**
 * What is wrong with routes read back from a file (a restart's snapshot), or undefined when sound: as
 * strict as the xDS decoder, since the proxy listens on each VIP and connects to each endpoint. In
 * `slicer`'s slices: 25,000 routes take 25 ms, on the thread that answers.
 */
export async function routesProblem(routes: unknown, slicer?: Slicer): Promise<string | undefined> {
  if (!Array.isArray(routes)) return 'routes: not a list';
  for (const [i, r] of routes.entries()) {
    if (slicer?.due()) await slicer.pause();
    const problem = routeProblem(r);
    if (problem !== undefined) return `routes[${i}]: ${problem}`;
  }
  return undefined;
}

/** The endpoints, or the host itself on its port when the entry lists none. */
export function targetsOf(route: VipRoute): VipBackend[] {
  return route.endpoints.length > 0 ? route.endpoints : [{ address: route.host, port: route.hostPort }];
}
