// One log line per burst of upstream failures (SPEC §10: bounds and failures are logged once per
// burst, never silently): the first failure after a quiet spell is logged at once, the rest of the
// burst is counted and reported with the next failure once `intervalMs` has passed.
import type { Logger } from 'pino';

export class FailureLog {
  private suppressed = 0;
  private lastLogged = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly intervalMs: number,
    private readonly upstreams: () => string[],
  ) {}

  observe(ok: boolean): void {
    if (ok) return;
    const now = this.now();
    if (now - this.lastLogged < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.logger.warn(
      { upstreams: this.upstreams(), failedSinceLastLine: this.suppressed + 1 },
      'upstream failed: no server answered within the budget (SERVFAIL, or a stale answer if cached)',
    );
    this.suppressed = 0;
    this.lastLogged = now;
  }
}
