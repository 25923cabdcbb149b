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

/** A kind of event's log line, its level and the fields every line of it carries. */
export interface BurstLine {
  message: string;
  level?: 'warn' | 'error';
  fields: Record<string, unknown>;
}

/** One BurstLog per kind of event: each line carries the fields of the event it logs and `extra()`. */
export function burstLogs<K extends string>(
  logger: Logger,
  now: () => number,
  intervalMs: number,
  lines: Iterable<readonly [K, BurstLine]>,
  extra: () => Record<string, unknown> = () => ({}),
): (kind: K, fields: Record<string, unknown>) => void {
  const logs = new Map<K, (fields: Record<string, unknown>) => void>();
  for (const [kind, line] of lines) {
    // The rest of a burst is counted; its last event's fields wait for the next line.
    let last: Record<string, unknown> = {};
    const log = new BurstLog(
      logger,
      now,
      intervalMs,
      line.message,
      () => ({ ...line.fields, ...extra(), ...last }),
      line.level,
    );
    logs.set(kind, (fields) => {
      last = fields;
      log.hit();
    });
  }
  return (kind, fields) => logs.get(kind)?.(fields);
}
