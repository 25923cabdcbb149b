// The VIP proxy's relay on node:net (`--vip-relay node`, and where the native relay is not built): one
// net.Server per VIP:port, two sockets per connection, bytes through JavaScript.
import net from 'node:net';
import type { RelayListener, RelayOptions, VipRelay, VipStats } from './relay.js';
import type { VipBackend } from './routes.js';

interface NodeListener {
  server: net.Server;
  sockets: Set<net.Socket>;
}

const own = (l: RelayListener) => l.handle as NodeListener;

export class NodeRelay implements VipRelay {
  readonly kind = 'node' as const;
  private readonly opts: RelayOptions;

  constructor(opts: RelayOptions) {
    this.opts = opts;
  }

  async listen(l: RelayListener): Promise<void> {
    const handle: NodeListener = {
      // pauseOnConnect: the client is not read until the backend is connected (no start/stop churn).
      server: net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) =>
        this.accept(l, client),
      ),
      sockets: new Set(),
    };
    await new Promise<void>((resolve, reject) => {
      handle.server.once('error', reject);
      handle.server.listen({ host: l.route.vip, port: l.route.port }, () => {
        handle.server.off('error', reject);
        resolve();
      });
    });
    handle.server.on('error', (err) => this.opts.events.listenerError(l, err));
    l.handle = handle;
  }

  routeChanged(): void {
    // Every accept reads l.route: nothing kept aside.
  }

  stats(l: RelayListener): VipStats {
    return { ...l.stats };
  }

  async stop(l: RelayListener): Promise<void> {
    const { server, sockets } = own(l);
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(l: RelayListener, client: net.Socket): void {
    const { stats } = l;
    const { sockets } = own(l);
    stats.active++;
    stats.total++;
    sockets.add(client);
    client.on('close', () => {
      stats.active--;
      sockets.delete(client);
    });
    client.on('error', () => {});
    this.opts.events.accepted(l, {
      gone: () => client.destroyed,
      connect: (target) => this.connect(l, client, target),
      refuse: () => {
        stats.connectErrors++;
        client.resetAndDestroy();
      },
    });
  }

  private connect(l: RelayListener, client: net.Socket, target: VipBackend): void {
    const { sockets } = own(l);
    const backend = net.connect({
      host: target.address,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    sockets.add(backend);
    backend.on('close', () => sockets.delete(backend));
    const timer = setTimeout(() => backend.destroy(new Error('connect timeout')), this.opts.connectTimeoutMs);
    const failed = (err: Error) => {
      clearTimeout(timer);
      // Connect failure closes the client with a reset, as the backend itself would have.
      l.stats.connectErrors++;
      client.resetAndDestroy();
      this.opts.events.unreachable(l, `${target.address}:${target.port}: ${err.message}`);
    };
    backend.once('error', failed);
    backend.once('connect', () => {
      clearTimeout(timer);
      backend.off('error', failed);
      this.splice(l, client, backend);
    });
  }

  /** Bytes both ways; FIN is passed on (half-close), an error or idle timeout closes both. */
  private splice(l: RelayListener, client: net.Socket, backend: net.Socket): void {
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
