// The VIP proxy's relay in C (`--vip-relay native`, netio/relay.c): accept, connect and splice(2) without
// a JavaScript object per connection. STATIC routes are connected by the addon itself; other routes
// come here to be resolved. The addon's handle lives while it has listeners.
import { getSystemErrorName } from 'node:util';
import { RELAY_EVENT, type RelayBinding, type RelayHandle } from '../netio/index.js';
import type { RelayListener, RelayOptions, VipRelay, VipStats } from './relay.js';
import { targetsOf } from './routes.js';

/** Node's listen backlog (net.Server's default). */
const BACKLOG = 511;

/** What Node's errors would say: "connect ECONNREFUSED", or its "connect timeout". */
function connectError(errno: number): string {
  if (errno === 110) return 'connect timeout';
  try {
    return `connect ${getSystemErrorName(-errno)}`;
  } catch {
    return `connect errno ${errno}`;
  }
}

function listenError(errno: number, host: string, port: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`listen ${code} ${host}:${port}`), { code, errno, syscall: 'listen' });
}

export class NativeRelay implements VipRelay {
  readonly kind = 'native' as const;
  private readonly binding: RelayBinding;
  private readonly opts: RelayOptions;
  private handle: RelayHandle | undefined;
  private readonly byId = new Map<number, RelayListener>();
  private readonly counters = new Float64Array(5);

  constructor(binding: RelayBinding, opts: RelayOptions) {
    this.binding = binding;
    this.opts = opts;
  }

  async listen(l: RelayListener): Promise<void> {
    const { binding } = this;
    this.handle ??= binding.create(
      this.opts.connectTimeoutMs,
      this.opts.idleTimeoutMs,
      (kind, lid, conn, errno, target) => this.onEvent(kind, lid, conn, errno, target),
    );
    const id = binding.listen(this.handle, l.route.vip, l.route.port, BACKLOG);
    if (id < 0) {
      this.releaseIfIdle();
      throw listenError(id, l.route.vip, l.route.port);
    }
    l.handle = id;
    this.byId.set(id, l);
    this.routeChanged(l);
  }

  routeChanged(l: RelayListener): void {
    if (this.handle === undefined) return;
    const id = l.handle as number;
    // STATIC endpoints are addresses: the addon connects them round-robin without asking.
    const targets = l.route.resolution === 'STATIC' ? targetsOf(l.route) : [];
    const set = this.binding.targets(
      this.handle,
      id,
      targets.map((t) => t.address),
      targets.map((t) => t.port),
    );
    // Not addresses after all, or too many: every accept comes here instead.
    if (set !== 0) this.binding.targets(this.handle, id, [], []);
  }

  stats(l: RelayListener): VipStats {
    if (this.handle !== undefined) this.binding.stats(this.handle, l.handle as number, this.counters);
    const [active, total, bytesToBackend, bytesToClient, connectErrors] = this.counters;
    return { ...l.stats, active, total, bytesToBackend, bytesToClient, connectErrors };
  }

  async stop(l: RelayListener): Promise<void> {
    if (this.handle === undefined) return;
    this.binding.unlisten(this.handle, l.handle as number);
    this.byId.delete(l.handle as number);
    this.releaseIfIdle();
  }

  private releaseIfIdle(): void {
    if (this.byId.size > 0 || this.handle === undefined) return;
    this.binding.destroy(this.handle);
    this.handle = undefined;
  }

  private onEvent(kind: number, lid: number, conn: number, errno: number, target: string | undefined): void {
    const l = this.byId.get(lid);
    const handle = this.handle;
    if (l === undefined || handle === undefined) return;
    if (kind === RELAY_EVENT.connectFailed) {
      this.opts.events.unreachable(l, `${target}: ${connectError(errno)}`);
      return;
    }
    let gone = false;
    this.opts.events.accepted(l, {
      gone: () => gone || this.handle !== handle || !this.byId.has(lid),
      connect: (t) => {
        const result = this.binding.connect(handle, conn, t.address, t.port);
        if (result === 1) gone = true;
        else if (result < 0) {
          this.binding.refuse(handle, conn);
          this.opts.events.unreachable(l, `${t.address}:${t.port}: not an IP address`);
        }
      },
      refuse: () => this.binding.refuse(handle, conn),
    });
  }
}
