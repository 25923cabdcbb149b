// TCP proxy for VIP:port → backend (SPEC §6). One listener per VIP and port, following the table:
// listeners come and go with routes while the connections of other routes carry on.
import net from 'node:net';
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import type { VipDataplane, VipServed } from './dataplane.js';
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
}

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

interface Listener {
  route: VipRoute;
  server: net.Server;
  sockets: Set<net.Socket>;
  stats: VipStats;
  /** Round-robin position across the backend addresses (DNS_ROUND_ROBIN-like for every resolution). */
  turn: number;
}

/** Accepts on every VIP:port of its routes and splices each connection to a backend. */
export class VipProxy implements VipDataplane {
  readonly kind = 'proxy' as const;
  private readonly opts: VipProxyOptions;
  private readonly listeners = new Map<string, Listener>();
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
  }

  /** Applies a new set of routes; updates are serialised so listeners never race. */
  setRoutes(routes: VipRoute[]): Promise<void> {
    this.updating = this.updating.then(() => this.apply(routes));
    return this.updating;
  }

  stats(): VipStats[] {
    return [...this.listeners.values()].map((l) => ({ ...l.stats }));
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

  private async listen(route: VipRoute): Promise<Listener> {
    const l: Listener = {
      route,
      // pauseOnConnect: the client is not read until the backend is connected (no start/stop churn).
      server: net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) =>
        this.accept(l, client),
      ),
      sockets: new Set(),
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
    await new Promise<void>((resolve, reject) => {
      l.server.once('error', reject);
      l.server.listen({ host: route.vip, port: route.port }, () => {
        l.server.off('error', reject);
        resolve();
      });
    });
    l.server.on('error', (err) =>
      this.opts.logger.warn({ vip: routeKey(route), err: err.message }, 'VIP listener error'),
    );
    return l;
  }

  private async stop(l: Listener): Promise<void> {
    for (const s of l.sockets) s.destroy();
    await new Promise<void>((resolve) => l.server.close(() => resolve()));
  }

  private async resolveTargets(route: VipRoute): Promise<VipBackend[]> {
    const resolved = await Promise.all(
      targetsOf(route).map(async (t) =>
        (await this.opts.resolve(t.address)).map((address) => ({ address, port: t.port })),
      ),
    );
    return resolved.flat();
  }

  private accept(l: Listener, client: net.Socket): void {
    const { stats } = l;
    stats.active++;
    stats.total++;
    l.sockets.add(client);
    client.on('close', () => {
      stats.active--;
      l.sockets.delete(client);
    });
    client.on('error', () => {});
    const pick = (list: VipBackend[]) => {
      if (client.destroyed) return;
      if (list.length === 0) return this.refuse(l, client, 'no backend address');
      this.connect(l, client, list[l.turn++ % list.length]);
    };
    // The common STATIC case stays synchronous: no promise per connection.
    if (l.route.resolution === 'STATIC') pick(targetsOf(l.route));
    else this.resolveTargets(l.route).then(pick, (err: Error) => this.refuse(l, client, err.message));
  }

  /** Connect failure closes the client with a reset, as the backend itself would have. */
  private refuse(l: Listener, client: net.Socket, why: string): void {
    l.stats.connectErrors++;
    this.opts.logger.warn({ host: l.route.host, vip: routeKey(l.route), why }, 'VIP backend unreachable');
    client.resetAndDestroy();
  }

  private connect(l: Listener, client: net.Socket, target: VipBackend): void {
    const backend = net.connect({
      host: target.address,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    l.sockets.add(backend);
    backend.on('close', () => l.sockets.delete(backend));
    const timer = setTimeout(() => backend.destroy(new Error('connect timeout')), this.opts.connectTimeoutMs);
    const failed = (err: Error) => {
      clearTimeout(timer);
      this.refuse(l, client, `${target.address}:${target.port}: ${err.message}`);
    };
    backend.once('error', failed);
    backend.once('connect', () => {
      clearTimeout(timer);
      backend.off('error', failed);
      this.splice(l, client, backend);
    });
  }

  /** Bytes both ways; FIN is passed on (half-close), an error or idle timeout closes both. */
  private splice(l: Listener, client: net.Socket, backend: net.Socket): void {
    const { stats } = l;
    client.on('data', (d) => {
      stats.bytesToBackend += d.length;
      if (!backend.write(d)) client.pause();
    });
    backend.on('data', (d) => {
      stats.bytesToClient += d.length;
      if (!client.write(d)) backend.pause();
    });
    backend.on('drain', () => client.resume());
    client.on('drain', () => backend.resume());
    client.on('end', () => backend.end());
    backend.on('end', () => client.end());
    backend.on('error', () => client.resetAndDestroy());
    client.on('error', () => backend.resetAndDestroy());
    client.on('close', () => backend.destroy());
    backend.on('close', () => client.destroy());
    for (const s of [client, backend]) {
      s.setTimeout(this.opts.idleTimeoutMs, () => {
        client.destroy();
        backend.destroy();
      });
    }
    client.resume();
  }
}
