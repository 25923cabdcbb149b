// What the agent holds for VIP traffic (SPEC §6): the user-space proxy or the kernel's NAT. Both take
// the same routes; /debug/vips and the metrics say which one serves each VIP:port.
import type { VipStats } from './proxy.js';
import type { VipRelayKind } from './relay.js';
import type { VipRoute } from './routes.js';

export type VipDataplaneKind = 'proxy' | 'nat';

export const VIP_DATAPLANES: readonly VipDataplaneKind[] = ['proxy', 'nat'];

/** One VIP:port and what serves it. */
export interface VipServed {
  host: string;
  vip: string;
  port: number;
  dataplane: VipDataplaneKind;
  /** nat: the backend addresses the rules spread over; `[]`: connections are refused. */
  backends?: string[];
  /** nat: open connections from conntrack, or why conntrack could not be read. */
  conntrack?: { active: number } | { unavailable: string };
}

export interface VipDataplane {
  readonly kind: VipDataplaneKind;
  /** proxy: which relay carries the bytes (`--vip-relay`). */
  readonly relayKind?: VipRelayKind;
  setRoutes(routes: VipRoute[]): Promise<void>;
  /** Every VIP:port routed, and which data plane serves it. */
  served(): VipServed[];
  /** Per-connection counters of the VIP:ports the user-space proxy serves. */
  stats(): VipStats[];
  close(): Promise<void>;
}
