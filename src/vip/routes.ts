// What the VIP proxy listens on and where each listener leads (SPEC §6).
import type { Resolution } from '../model/index.js';

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

/** What is wrong with routes read back from a file (a restart's snapshot), or undefined when sound. */
export function routesProblem(routes: unknown): string | undefined {
  if (!Array.isArray(routes)) return 'routes: not a list';
  for (const [i, r] of routes.entries()) {
    const ok =
      isRecord(r) &&
      typeof r.vip === 'string' &&
      isPort(r.port) &&
      typeof r.host === 'string' &&
      typeof r.resolution === 'string' &&
      Number.isInteger(r.hostPort) &&
      typeof r.origin === 'string' &&
      Array.isArray(r.endpoints) &&
      r.endpoints.every((e) => isRecord(e) && typeof e.address === 'string' && Number.isInteger(e.port));
    if (!ok) return `routes[${i}]: not a route`;
  }
  return undefined;
}

/** The endpoints, or the host itself on its port when the entry lists none. */
export function targetsOf(route: VipRoute): VipBackend[] {
  return route.endpoints.length > 0 ? route.endpoints : [{ address: route.host, port: route.hostPort }];
}
