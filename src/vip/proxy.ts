// TCP proxy for VIP:port → backend (SPEC §6). One listener per VIP and port, following the table:
// listeners come and go with routes while the connections of other routes carry on.
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { loadRelayAddon } from '../netio/index.js';
import type { VipDataplane, VipServed } from './dataplane.js';
import { NativeRelay } from './native-relay.js';
import { NodeRelay } from './node-relay.js';
import type {
  PendingClient,
  RelayListener,
  VipRelay,
  VipRelayChoice,
  VipRelayKind,
  VipStats,
} from './relay.js';
import type { BackendResolver } from './resolver.js';
import { routeKey, sameRoute, targetsOf, type VipBackend, type VipRoute } from './routes.js';
import { UnroutedVipLog } from './unrouted-log.js';

export interface VipProxyOptions {
  resolve: BackendResolver;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  logger: Logger;
  /** The VIP ranges, named in the fix when a VIP cannot be bound (default: DEFAULTS' ranges). */
  vipRanges?: { v4: string; v6: string };
  /** The clock of the once-per-burst log (default: Date.now). */
  now?: () => number;
  /** `native`: splice(2) in C (netio/relay.c); `node`: node:net; `auto` (default): native where built. */
  relay?: VipRelayChoice;
}

export type { VipStats } from './relay.js';

/** Whether the native relay can run here, and why not. */
export function nativeRelaySupport(): { available: true } | { available: false; reason: string } {
  const addon = loadRelayAddon();
  return addon.binding ? { available: true } : { available: false, reason: addon.reason };
}

/** Accepts on every VIP:port of its routes and splices each connection to a backend. */
export class VipProxy implements VipDataplane {
  readonly kind = 'proxy' as const;
  /** Which relay carries the bytes (`--vip-relay`). */
  readonly relayKind: VipRelayKind;
  private readonly opts: VipProxyOptions;
  private readonly relay: VipRelay;
  private readonly listeners = new Map<string, RelayListener>();
  private updating: Promise<void> = Promise.resolve();
  private readonly unrouted: UnroutedVipLog;

  constructor(opts: VipProxyOptions) {
    this.opts = opts;
    this.unrouted = new UnroutedVipLog({
      logger: opts.logger,
      now: opts.now ?? Date.now,
      intervalMs: DEFAULTS.burstLogIntervalMs,
      ranges: opts.vipRanges ?? { v4: DEFAULTS.vipRangeV4, v6: DEFAULTS.vipRangeV6 },
    });
    const relayOptions = {
      connectTimeoutMs: opts.connectTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      events: {
        accepted: (l: RelayListener, client: PendingClient) => this.accepted(l, client),
        unreachable: (l: RelayListener, why: string) => this.unreachable(l, why),
        listenerError: (l: RelayListener, err: Error) =>
          opts.logger.warn({ vip: routeKey(l.route), err: err.message }, 'VIP listener error'),
      },
    };
    const choice = opts.relay ?? DEFAULTS.vipRelay;
    const addon = choice === 'node' ? undefined : loadRelayAddon();
    if (addon?.binding) {
      this.relay = new NativeRelay(addon.binding, relayOptions);
    } else if (choice === 'native') {
      throw new MeshdnsError(
        'MESHDNS_VIP_RELAY',
        `--vip-relay native: the native relay is not available: ${addon?.reason}. Install a C compiler ` +
          '(Debian: build-essential) and run npm run build, or pass --vip-relay node',
      );
    } else {
      this.relay = new NodeRelay(relayOptions);
      if (addon)
        opts.logger.info({ vipRelay: 'node', reason: addon.reason }, 'VIP proxy relays with node:net');
    }
    this.relayKind = this.relay.kind;
  }

  /** Applies a new set of routes; updates are serialised so listeners never race. */
  setRoutes(routes: VipRoute[]): Promise<void> {
    this.updating = this.updating.then(() => this.apply(routes));
    return this.updating;
  }

  stats(): VipStats[] {
    return [...this.listeners.values()].map((l) => this.relay.stats(l));
  }

  served(): VipServed[] {
    return [...this.listeners.values()].map(({ route }) => ({
      host: route.host,
      vip: route.vip,
      port: route.port,
      dataplane: 'proxy',
    }));
  }

  async close(): Promise<void> {
    await this.setRoutes([]);
  }

  private async apply(routes: VipRoute[]): Promise<void> {
    const wanted = new Map(routes.map((r) => [routeKey(r), r]));
    for (const [key, l] of this.listeners) {
      const next = wanted.get(key);
      if (next && sameRoute(next, l.route)) continue;
      if (next) {
        // Same address, new backend: new connections go to the new backend, open ones carry on.
        l.route = next;
        l.stats.host = next.host;
        this.relay.routeChanged(l);
        continue;
      }
      this.listeners.delete(key);
      await this.stop(l);
    }
    const unrouted: VipRoute[] = [];
    for (const [key, route] of wanted) {
      if (this.listeners.has(key)) continue;
      try {
        this.listeners.set(key, await this.listen(route));
      } catch (err) {
        // Not a local address: the range has no local route, which every VIP shares; said once below.
        if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') unrouted.push(route);
        else
          this.opts.logger.error(
            { vip: key, host: route.host, err: (err as Error).message },
            'cannot listen on VIP',
          );
      }
    }
    this.unrouted.report(unrouted);
  }

  private async listen(route: VipRoute): Promise<RelayListener> {
    const l: RelayListener = {
      route,
      stats: {
        host: route.host,
        vip: route.vip,
        port: route.port,
        active: 0,
        total: 0,
        bytesToBackend: 0,
        bytesToClient: 0,
        connectErrors: 0,
      },
      turn: 0,
    };
    await this.relay.listen(l);
    return l;
  }

  private async stop(l: RelayListener): Promise<void> {
    await this.relay.stop(l);
  }

  private async resolveTargets(route: VipRoute): Promise<VipBackend[]> {
    const resolved = await Promise.all(
      targetsOf(route).map(async (t) =>
        (await this.opts.resolve(t.address)).map((address) => ({ address, port: t.port })),
      ),
    );
    return resolved.flat();
  }

  private accepted(l: RelayListener, client: PendingClient): void {
    const pick = (list: VipBackend[]) => {
      if (client.gone()) return;
      if (list.length === 0) return this.refuse(l, client, 'no backend address');
      client.connect(list[l.turn++ % list.length]);
    };
    // The common STATIC case stays synchronous: no promise per connection.
    if (l.route.resolution === 'STATIC') pick(targetsOf(l.route));
    else this.resolveTargets(l.route).then(pick, (err: Error) => this.refuse(l, client, err.message));
  }

  /** No backend to try: the client is reset, as a backend that refused would have. */
  private refuse(l: RelayListener, client: PendingClient, why: string): void {
    client.refuse();
    this.unreachable(l, why);
  }

  private unreachable(l: RelayListener, why: string): void {
    this.opts.logger.warn({ host: l.route.host, vip: routeKey(l.route), why }, 'VIP backend unreachable');
  }
}
