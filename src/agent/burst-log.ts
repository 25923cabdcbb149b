// One log line per burst (SPEC §10: failures and reached bounds are logged once per burst, never
// silently): the first event after a quiet spell is logged at once, the rest of the burst is counted
// and reported with the next event once `intervalMs` has passed.
import type { Logger } from 'pino';

export class BurstLog {
  private suppressed = 0;
  private lastLogged = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly intervalMs: number,
    private readonly message: string,
    private readonly fields: () => Record<string, unknown> = () => ({}),
    private readonly level: 'warn' | 'error' = 'warn',
  ) {}

  hit(): void {
    const now = this.now();
    if (now - this.lastLogged < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.logger[this.level]({ ...this.fields(), sinceLastLine: this.suppressed + 1 }, this.message);
    this.suppressed = 0;
    this.lastLogged = now;
  }
}
