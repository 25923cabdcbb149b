// What the controller's admin API shows (`--admin-listen`): readiness once agents can be served, its
// metrics, the views it keeps and the VIPs it allocated. It answers no DNS: the agent's views are empty.
import type { AdminSource, MetricsText, Readiness } from '../admin/index.js';
import { holdbackEnd } from '../allocate/index.js';
import { counterFrom, gaugeFrom, type Registry } from '../metrics.js';
import type { ControlPlane } from './control-plane.js';

export class ControllerAdminSource implements AdminSource {
  readonly #plane: ControlPlane;
  readonly #registry: Registry | undefined;
  readonly #config: Record<string, unknown>;

  constructor(plane: ControlPlane, registry: Registry | undefined, config: Record<string, unknown>) {
    this.#plane = plane;
    this.#registry = registry;
    this.#config = config;
    if (registry) {
      const views = () => plane.views?.views() ?? [];
      gaugeFrom(registry, 'meshdns_controller_agents', 'Agents connected', () =>
        views().reduce((n, v) => n + v.agents, 0),
      );
      gaugeFrom(
        registry,
        'meshdns_controller_views',
        'Name tables kept, one per kind of workload',
        () => views().length,
      );
      counterFrom(
        registry,
        'meshdns_controller_builds_total',
        'Snapshots of the resources taken',
        () => plane.builds,
      );
    }
  }

  readiness(): Readiness {
    const waiting = this.#plane.port === 0 ? ['no table built and served yet'] : [];
    return { ready: waiting.length === 0, waiting };
  }

  metrics(): Promise<MetricsText> | undefined {
    const registry = this.#registry;
    if (!registry) return undefined;
    return registry.metrics().then((body) => ({ contentType: registry.contentType, body }));
  }

  /** The kinds of workload served, with their agents and names. */
  nameTable(): unknown {
    return { views: this.#plane.views?.views() ?? [] };
  }

  config(): unknown {
    return this.#config;
  }

  /** Every host with its VIPs, then the VIPs held back from every host and when each is free again. */
  vips(): unknown {
    const allocation = this.#plane.views?.allocation;
    const hosts = (allocation?.hosts ?? []).map(({ entry: _entry, ...h }) => h);
    const now = Date.now();
    const held = (allocation?.holdback ?? []).map((h) => {
      const until = holdbackEnd(h, this.#plane.holdbackMs);
      const left = Math.max(0, Math.ceil((until - now) / 1000));
      return { ...h, state: 'held-back', until: new Date(until).toISOString(), leftSeconds: left };
    });
    return [...hosts, ...held];
  }

  cache(): unknown {
    return { error: 'the controller keeps no DNS cache; ask an agent' };
  }

  upstreams(): unknown {
    return [];
  }

  async explain(): Promise<unknown> {
    throw new RangeError('the controller answers no DNS; ask an agent (meshdns explain --admin AGENT)');
  }
}
