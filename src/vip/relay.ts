// How a VIP listener's connections are carried: the contract between the VIP proxy (routes, backend
// choice, logs) and its two relays, `native` (relay.c: splice(2) in C) and `node` (node:net streams).
import type { VipBackend, VipRoute } from './routes.js';

export type VipRelayKind = 'native' | 'node';
export const VIP_RELAYS = ['auto', 'native', 'node'] as const;
export type VipRelayChoice = (typeof VIP_RELAYS)[number];

export interface VipStats {
  host: string;
  vip: string;
  port: number;
  active: number;
  total: number;
  bytesToBackend: number;
  bytesToClient: number;
  connectErrors: number;
}

/** One VIP:port as the proxy holds it; `handle` is the relay's own. */
export interface RelayListener {
  route: VipRoute;
  stats: VipStats;
  /** Round-robin position across the backend addresses (DNS_ROUND_ROBIN-like for every resolution). */
  turn: number;
  handle?: unknown;
}

/** A client accepted and not yet connected: the proxy picks its backend, or refuses it. */
export interface PendingClient {
  /** The connection was closed meanwhile (its listener went away): nothing more to do. */
  gone(): boolean;
  connect(target: VipBackend): void;
  /** Resets the client and counts a connect error. */
  refuse(): void;
}

export interface RelayEvents {
  /** A client whose backend the proxy must choose (the native relay connects STATIC routes itself). */
  accepted(l: RelayListener, client: PendingClient): void;
  /** A backend could not be reached; the client was reset and the error counted. */
  unreachable(l: RelayListener, why: string): void;
  /** A listener's socket failed after it was bound (node:net's 'error' on the server). */
  listenerError(l: RelayListener, err: Error): void;
}

export interface VipRelay {
  readonly kind: VipRelayKind;
  /** Binds VIP:port; rejects with the system error (its `code`, e.g. EADDRNOTAVAIL). */
  listen(l: RelayListener): Promise<void>;
  /** The listener's route changed: new connections go to the new backend, open ones carry on. */
  routeChanged(l: RelayListener): void;
  /** The listener's counters, as of now. */
  stats(l: RelayListener): VipStats;
  /** Stops accepting and closes the listener's open connections. */
  stop(l: RelayListener): Promise<void>;
}

export interface RelayOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  events: RelayEvents;
}
