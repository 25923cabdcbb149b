// The NAT data plane (SPEC §6, `--vip-dataplane nat`): the kernel rewrites a VIP:port connection's
// destination to a backend, as kube-proxy does for a Service, and no byte passes through us. DNS
// backends are re-resolved through the upstreams when their TTL runs out; every change is one
// iptables-restore per family. A VIP:port whose backends are all of the other family (an IPv6 VIP
// before an IPv4-only database) cannot be DNATed: the user-space proxy serves it, so both data planes
// reach the same backends.
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { readConntrack } from './conntrack.js';
import type { VipDataplane, VipServed } from './dataplane.js';
import { iptablesCommands, type NatCommands } from './nat-exec.js';
import {
  familyOf,
  jumpArgv,
  NAT_FAMILIES,
  NAT_JUMPS,
  type NatEntry,
  type NatFamily,
  natRemovalArgv,
  restoreInput,
} from './nat-rules.js';
import type { VipStats } from './proxy.js';
import type { BackendLookup } from './resolver.js';
import { routeKey, targetsOf, type VipRoute } from './routes.js';

export interface NatDataplaneOptions {
  lookup: BackendLookup;
  /** Serves the VIP:ports no rule can (backends of the other family only). */
  fallback: VipDataplane;
  logger: Logger;
  commands?: NatCommands;
  /** Where open connections are counted from (default: /proc/net/nf_conntrack). */
  conntrackFile?: string;
}

interface Resolved {
  entries: NatEntry[];
  fallback: VipRoute[];
  /** Milliseconds until the first DNS answer used runs out; Infinity with none. */
  refreshMs: number;
}

export class NatDataplane implements VipDataplane {
  readonly kind = 'nat' as const;
  private readonly opts: NatDataplaneOptions;
  private readonly commands: NatCommands;
  private routes: VipRoute[] = [];
  private entries: NatEntry[] = [];
  private fallbackRoutes: VipRoute[] = [];
  /** What each family's chains were last given; undefined: not written since start. */
  private readonly written = new Map<NatFamily, string>();
  private updating: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: NatDataplaneOptions) {
    this.opts = opts;
    this.commands = opts.commands ?? iptablesCommands;
  }

  /** Resolves the routes' backends and applies them; updates are serialised so rules never race. */
  setRoutes(routes: VipRoute[]): Promise<void> {
    this.routes = routes;
    return this.enqueue();
  }

  served(): VipServed[] {
    const counts = this.entries.length > 0 ? readConntrack(this.opts.conntrackFile) : undefined;
    const nat = this.entries.map(
      (e): VipServed => ({
        host: e.host,
        vip: e.vip,
        port: e.port,
        dataplane: 'nat',
        backends: e.backends.map((b) => routeKey({ vip: b.address, port: b.port })),
        conntrack:
          counts === undefined || 'unavailable' in counts
            ? { unavailable: counts?.unavailable ?? 'not read' }
            : { active: counts.active.get(routeKey(e)) ?? 0 },
      }),
    );
    return [...nat, ...this.opts.fallback.served()];
  }

  stats(): VipStats[] {
    return this.opts.fallback.stats();
  }

  /** Removes every rule and chain of ours (SPEC §6: nothing left behind) and stops the fallback. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.updating.catch(() => undefined);
    this.entries = [];
    await this.opts.fallback.close();
    if (this.written.size > 0) await removeNatRules(this.commands);
    this.written.clear();
  }

  /** The caller sees this update's failure; the next update runs regardless (and retries the rules). */
  private enqueue(): Promise<void> {
    const next = this.updating.catch(() => undefined).then(() => (this.closed ? undefined : this.apply()));
    this.updating = next;
    return next;
  }

  private async apply(): Promise<void> {
    clearTimeout(this.timer);
    let refreshMs: number = DEFAULTS.vipNatRetryMs;
    try {
      const resolved = await this.resolve(this.routes);
      for (const family of NAT_FAMILIES) {
        const input = restoreInput(resolved.entries, family);
        if (this.written.get(family) === input) continue;
        const first = !this.written.has(family);
        await this.commands.restore(family, input);
        if (first) await this.ensureJumps(family);
        this.written.set(family, input);
      }
      this.entries = resolved.entries;
      // Rules first, then the proxy: a VIP:port moving to the rules is never served by neither.
      this.fallbackRoutes = resolved.fallback;
      await this.opts.fallback.setRoutes(this.fallbackRoutes);
      refreshMs = resolved.refreshMs;
    } finally {
      // Re-resolved when the first DNS answer runs out; after a failure, tried again a little later.
      if (refreshMs !== Infinity && !this.closed) this.schedule(refreshMs);
    }
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.enqueue().catch((err: Error) =>
        this.opts.logger.error({ err: err.message }, 'VIP NAT rules not updated; trying again'),
      );
    }, ms);
    // The refresh must not keep a closing process alive.
    this.timer.unref();
  }

  /** After a kill -9 the jumps are still there: checked first, so a restart never adds a second copy. */
  private async ensureJumps(family: NatFamily): Promise<void> {
    for (const jump of NAT_JUMPS) {
      const check = await this.commands.run(jumpArgv(family, jump, '-C'));
      if (check.status === 0) continue;
      const argv = jumpArgv(family, jump, '-I');
      const added = await this.commands.run(argv);
      if (added.status !== 0) {
        throw new MeshdnsError(
          'MESHDNS_VIP_NAT',
          `${argv.join(' ')}: ${added.stderr || `exit ${added.status}`}`,
        );
      }
    }
  }

  private async resolve(routes: VipRoute[]): Promise<Resolved> {
    let refreshMs = Infinity;
    const out: Resolved = { entries: [], fallback: [], refreshMs };
    await Promise.all(
      routes.map(async (route) => {
        const backends: { address: string; port: number }[] = [];
        for (const target of targetsOf(route)) {
          const answer = await this.opts.lookup(target.address).catch(() => ({ addresses: [], ttlMs: 0 }));
          const ttl = answer.addresses.length > 0 ? answer.ttlMs : DEFAULTS.vipNatRetryMs;
          refreshMs = Math.min(refreshMs, ttl);
          for (const address of answer.addresses) backends.push({ address, port: target.port });
        }
        const family = familyOf(route.vip);
        const same = backends.filter((b) => familyOf(b.address) === family);
        if (same.length === 0 && backends.length > 0) {
          out.fallback.push(route);
          return;
        }
        // Sorted: a DNS answer in another order is the same rules, and rewrites nothing.
        same.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
        out.entries.push({ vip: route.vip, port: route.port, host: route.host, backends: dedupe(same) });
      }),
    );
    out.entries.sort((a, b) => (routeKey(a) < routeKey(b) ? -1 : 1));
    out.refreshMs = refreshMs;
    return out;
  }
}

function dedupe<T extends { address: string; port: number }>(list: T[]): T[] {
  return list.filter((b, i) => i === 0 || b.address !== list[i - 1]!.address || b.port !== list[i - 1]!.port);
}

/** Every jump and chain of the NAT data plane removed; what is already gone is skipped. */
export async function removeNatRules(commands: NatCommands = iptablesCommands): Promise<void> {
  for (const argv of natRemovalArgv()) await commands.run(argv);
}
