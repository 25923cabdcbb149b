// The soak's upstream: the synthetic upstream (bench/servers/synthetic-upstream.ts) as a real process,
// stopped and started again on the same port on a fixed rhythm. Outages are recorded, so a SERVFAIL can
// be told apart as expected (the upstream was down while the query was out) or not.
import type { ServerAddress } from '../../bench/lib/dns-probe.js';
import type { ProcessGroup } from '../../bench/lib/processes.js';
import type { DnsServer } from '../../bench/servers/server.js';
import { startSyntheticUpstream } from '../../bench/servers/synthetic-upstream.js';

/** performance.now() interval the upstream was down; `to` undefined while it still is. */
export interface Outage {
  from: number;
  to: number | undefined;
}

export class FlappingUpstream {
  readonly outages: Outage[] = [];
  /** Why a restart failed, if one did. */
  error: string | undefined;
  private server: DnsServer | undefined;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly group: ProcessGroup,
    readonly address: ServerAddress,
    private readonly ttl: number,
  ) {}

  async start(): Promise<void> {
    this.server = await startSyntheticUpstream(this.group, {
      label: 'soak-upstream',
      listen: this.address,
      delayMs: 0,
      ttl: this.ttl,
    });
  }

  /** Up for `upMs`, down for `downMs`, over and over until stop(). */
  flap(upMs: number, downMs: number): void {
    this.running = true;
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    this.loop = (async () => {
      while (this.running) {
        await sleep(upMs);
        if (!this.running) break;
        const outage: Outage = { from: performance.now(), to: undefined };
        this.outages.push(outage);
        await this.server?.proc.stop();
        await sleep(downMs);
        await this.start();
        outage.to = performance.now();
      }
    })().catch((err: unknown) => {
      // A restart that failed ends the flapping; the soak reports it as a failure of its own.
      this.error = err instanceof Error ? err.message : String(err);
    });
  }

  /** Whether the upstream was down at any moment of [from, to]. */
  downDuring(from: number, to: number): boolean {
    return this.outages.some((o) => o.from <= to && (o.to === undefined || o.to >= from));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.server?.proc.stop();
  }
}
