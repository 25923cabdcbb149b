// Binding a VIP fails with EADDRNOTAVAIL when the VIP range is not routed to this host (SPEC §6: the
// range needs a local route). Then every VIP of every update fails alike, so the fix is logged once per
// burst with the count (SPEC §10), not once per VIP.
import type { Logger } from 'pino';
import { routeKey, type VipRoute } from './routes.js';

export interface UnroutedLogOptions {
  logger: Logger;
  now: () => number;
  /** Updates failing within this long of a logged line are counted into the next line instead. */
  intervalMs: number;
  /** The VIP ranges, for the route command the line suggests. */
  ranges: { v4: string; v6: string };
}

export class UnroutedVipLog {
  private lastLogged = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(private readonly opts: UnroutedLogOptions) {}

  /** The routes of one update whose VIP could not be bound because it is not a local address. */
  report(failed: readonly VipRoute[]): void {
    if (failed.length === 0) return;
    const now = this.opts.now();
    if (now - this.lastLogged < this.opts.intervalMs) {
      this.suppressed++;
      return;
    }
    const { v4, v6 } = this.opts.ranges;
    const commands = [
      failed.some((r) => !r.vip.includes(':')) && `\`ip route add local ${v4} dev lo\``,
      failed.some((r) => r.vip.includes(':')) && `\`ip -6 route add local ${v6} dev lo\``,
    ].filter(Boolean);
    const first = routeKey(failed[0]!);
    const count = `${failed.length} VIP${failed.length === 1 ? '' : 's'} affected`;
    this.opts.logger.error(
      { vips: failed.length, first, updatesSinceLastLine: this.suppressed + 1 },
      `cannot bind VIP ${first}: the VIP range is not routed to this host; run \`meshdns capture --apply\` or add the local route (${commands.join(' and ')}); ${count}`,
    );
    this.suppressed = 0;
    this.lastLogged = now;
  }
}
