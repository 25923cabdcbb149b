// The agent's link to a controller (`meshdns agent --controller`): an ADS stream whose name tables
// become the agent's answering table and whose routes become its VIP proxy's. A table is applied in
// slices (the agent keeps answering), then acknowledged; one that does not decode is refused (NACK) and
// the agent stays on its last good table. While the controller is away the last table keeps answering.
import type { Logger } from 'pino';
import type { HostVips } from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import { nameToKey } from '../dns/index.js';
import { APPLY_SLICE_MS, NameTable, type Slicer, type TableScope, timeSlicer } from '../nametable/index.js';
import type { PerNameReply } from '../server/index.js';
import type { VipRoute } from '../vip/index.js';
// Types only here: gRPC and protobufjs load when a link is made (`link()`), never for `serve`, which
// shares this module's Agent and answers from its first moment (SPEC §4).
import type {
  AdsClient,
  AdsClientState,
  AdsClientTls,
  AgentNameTable,
  XdsNode,
  XdsVipRoute,
  XdsWorkloadConfig,
} from '../xds/index.js';
import type { Agent } from './agent.js';

export interface ControllerLinkOptions {
  agent: Agent;
  /** The controller, host:port. */
  target: string;
  node: XdsNode;
  tls?: AdsClientTls;
  scope: TableScope;
  logger: Logger;
  /** The controller's settings for this workload, on each change (before the first table). */
  onConfig?: (config: XdsWorkloadConfig) => void | Promise<void>;
  /** Called once, after the first table is applied. */
  onFirstTable?: () => void;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class ControllerLink {
  readonly #opts: ControllerLinkOptions;
  readonly #client: AdsClient;
  readonly #slicer: Slicer = timeSlicer(APPLY_SLICE_MS);
  readonly #names: AgentNameTable;
  #table = NameTable.empty();
  #tables = 0;
  #config: XdsWorkloadConfig | undefined;
  /** The VIPs of the routes applied last (a per-name answer waits for its VIP's route). */
  #routedVips = new Set<string>();
  /** Per-name asks waiting for the table and routes holding their name; checked after each update. */
  readonly #waiting = new Set<() => boolean>();

  /** Loads the xDS client and makes the link; `start()` connects. */
  static async create(opts: ControllerLinkOptions): Promise<ControllerLink> {
    return new ControllerLink(opts, await import('../xds/index.js'));
  }

  private constructor(opts: ControllerLinkOptions, xds: typeof import('../xds/index.js')) {
    this.#opts = opts;
    this.#names = new xds.AgentNameTable(opts.scope);
    this.#client = new xds.AdsClient({
      target: opts.target,
      node: opts.node,
      ...(opts.tls ? { tls: opts.tls } : {}),
      logger: opts.logger,
      ...(opts.backoffInitialMs !== undefined ? { backoffInitialMs: opts.backoffInitialMs } : {}),
      ...(opts.backoffMaxMs !== undefined ? { backoffMaxMs: opts.backoffMaxMs } : {}),
      onWorkloadConfig: async (config) => {
        this.#config = config;
        await opts.onConfig?.(config);
      },
      onNameTableDelta: async (set, removed, version) => {
        await this.#apply(this.#names.applyDelta(set, removed));
        const hosts = this.#names.table.size;
        opts.logger.info(
          { version, hosts, set: set.length, removed: removed.length },
          'name table from the controller',
        );
        if (this.#tables++ === 0) opts.onFirstTable?.();
      },
      onVipRoutes: (routes) => this.#setRoutes(routes),
    });
  }

  get scope(): TableScope {
    return this.#names.scope;
  }

  get config(): XdsWorkloadConfig | undefined {
    return this.#config;
  }

  async start(): Promise<void> {
    await this.#client.start();
  }

  status(): AdsClientState & { tables: number } {
    return { ...this.#client.status(), tables: this.#tables };
  }

  /** New search domains (SIGHUP): every name's derived forms are recomputed. */
  async rescope(scope: TableScope): Promise<void> {
    await this.#apply(this.#names.rescope(scope));
  }

  /**
   * Per-name VIPs (issue 14 item 5): asks the controller for a VIP of `name` under the per-name wildcard
   * `wildcard`; once given, resolves when this agent's table holds the name and its VIP's route is in
   * (both come over the ADS stream), or after `timeoutMs`. Never rejects.
   */
  async askPerName(name: string, wildcard: string, timeoutMs: number): Promise<PerNameReply> {
    const deadline = performance.now() + timeoutMs;
    let v4: string | undefined;
    try {
      const reply = await this.#client.askPerName(
        { namespace: this.scope.namespace, name, wildcard, nodeId: this.#opts.node.id },
        timeoutMs,
      );
      if (reply.outcome !== 'allocated') return reply.outcome;
      v4 = reply.v4 ?? reply.v6;
    } catch (err) {
      this.#opts.logger.debug({ name, err: (err as Error).message }, 'per-name VIP not asked: no answer');
      return 'failed';
    }
    const key = nameToKey(`${name}.`);
    const held = () =>
      this.#table.lookup(key)?.record.perName !== undefined && (v4 === undefined || this.#routedVips.has(v4));
    if (held()) return 'allocated';
    return new Promise<PerNameReply>((resolve) => {
      const check = () => {
        if (!held()) return false;
        clearTimeout(timer);
        resolve('allocated');
        return true;
      };
      const timer = setTimeout(
        () => {
          this.#waiting.delete(check);
          resolve('timeout');
        },
        Math.max(0, deadline - performance.now()),
      );
      this.#waiting.add(check);
    });
  }

  /** Reports the per-name names answered lately, so that the controller keeps them (never rejects). */
  touchPerName(names: string[]): void {
    if (names.length === 0) return;
    const req = { namespace: this.scope.namespace, names, nodeId: this.#opts.node.id };
    this.#client
      .touchPerName(req, DEFAULTS.wildcardVipAskTimeoutMs)
      .catch((err: Error) =>
        this.#opts.logger.debug({ names: names.length, err: err.message }, 'per-name names not reported'),
      );
  }

  close(): Promise<void> {
    for (const check of this.#waiting) check();
    return this.#client.close();
  }

  /** Per-name asks whose name and route are in now are answered. */
  #wake(): void {
    for (const check of this.#waiting) if (check()) this.#waiting.delete(check);
  }

  async #apply(diff: Parameters<NameTable['withDiff']>[0]): Promise<void> {
    this.#table = await this.#table.withDiff(diff, this.#slicer);
    this.#opts.agent.setTable(this.#table, 0, { diff, packed: [] });
    this.#wake();
  }

  async #setRoutes(routes: XdsVipRoute[]): Promise<void> {
    // Read when shown: a per-name host's wildcard is the table's, which may come after the routes.
    await this.#opts.agent.setVips(() => this.#hostsOf(routes), routes as VipRoute[]);
    this.#routedVips = new Set(routes.map((r) => r.vip));
    this.#wake();
  }

  #hostsOf(routes: XdsVipRoute[]): Omit<HostVips, 'entry'>[] {
    // /debug/vips lists each host once with its addresses, as serve shows its allocation.
    const hosts = new Map<string, Omit<HostVips, 'entry'>>();
    for (const r of routes) {
      const [namespace = '', name = ''] = r.origin.replace(/^ServiceEntry /, '').split('/');
      const key = `${namespace}/${name}/${r.host}`;
      const h: Omit<HostVips, 'entry'> & { perName?: string } = hosts.get(key) ?? {
        namespace,
        name,
        host: r.host,
        state: 'allocated' as const,
      };
      // /debug/vips names a per-name host's wildcard, as serve does.
      const perName = this.#table.lookup(nameToKey(`${r.host}.`))?.record.perName;
      if (perName !== undefined) h.perName = perName;
      if (r.vip.includes(':')) h.v6 = r.vip;
      else h.v4 = r.vip;
      hosts.set(key, h);
    }
    return [...hosts.values()];
  }
}
