// Upstream health (issue 9 item 7): a server that fails `maxFails` tries in a row is marked down and
// skipped, so a dead server stops costing its share of the time budget on every query. While any
// server is down, a probe asks each down server `. IN NS` every `probeIntervalMs`; any reply that
// answers the probe (whatever its rcode: the server is there and speaking DNS) brings it back, as a
// real answer does. CoreDNS's `forward` does the same with `max_fails` and its health check.
import { QTYPE } from '../dns/index.js';
import type { ExchangeHooks } from './exchange.js';
import { buildQuery } from './message.js';
import type { UpstreamServer } from './resolvconf.js';
import { udpExchange } from './udp.js';

export interface HealthSettings {
  /** Failed tries in a row that mark a server down; 0: never. */
  maxFails: number;
  /** How often a down server is probed; also the longest one probe waits. */
  probeIntervalMs: number;
}

export interface ServerHealth {
  /** Failed tries since the last good reply. */
  consecutiveFailures: number;
  /** Marked down: skipped while another server is up. */
  down: boolean;
}

interface Tracked {
  server: UpstreamServer;
  health: ServerHealth;
}

export class HealthTracker {
  readonly #settings: HealthSettings;
  readonly #hooks: ExchangeHooks;
  readonly #random: () => number;
  readonly #onChange: ((server: UpstreamServer, down: boolean) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;
  #tracked: Tracked[] = [];

  constructor(
    settings: HealthSettings,
    hooks: ExchangeHooks,
    random: () => number,
    onChange?: (server: UpstreamServer, down: boolean) => void,
  ) {
    this.#settings = settings;
    this.#hooks = hooks;
    this.#random = random;
    this.#onChange = onChange;
  }

  /** The servers to watch, each with its record (kept across setServers when the server stays). */
  track(tracked: Tracked[]): void {
    this.#tracked = tracked;
    this.#schedule();
  }

  succeeded({ server, health }: Tracked): void {
    health.consecutiveFailures = 0;
    if (health.down) {
      health.down = false;
      this.#onChange?.(server, false);
    }
  }

  failed({ server, health }: Tracked): void {
    health.consecutiveFailures++;
    const max = this.#settings.maxFails;
    if (max > 0 && !health.down && health.consecutiveFailures >= max) {
      health.down = true;
      this.#onChange?.(server, true);
      this.#schedule();
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One probe round per interval while any server is down; nothing runs when all are up. */
  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#probing) return;
    if (!this.#tracked.some((t) => t.health.down)) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#probeDown();
    }, this.#settings.probeIntervalMs);
    // A probe never keeps the process alive on its own.
    this.#timer.unref();
  }

  async #probeDown(): Promise<void> {
    this.#probing = true;
    try {
      await Promise.all(this.#tracked.filter((t) => t.health.down).map((t) => this.#probe(t)));
    } finally {
      this.#probing = false;
      this.#schedule();
    }
  }

  async #probe(t: Tracked): Promise<void> {
    const id = Math.floor(this.#random() * 0x10000) & 0xffff;
    const packet = buildQuery('.', QTYPE.NS, id);
    const outcome = await udpExchange(
      t.server,
      packet,
      packet.length,
      this.#settings.probeIntervalMs,
      this.#hooks,
    );
    if (outcome.kind === 'reply' && !this.#closed) this.succeeded(t);
  }
}
