// One log line per burst for each kind of failure (SPEC §10: never silent), with the failure table's
// words (server/failures.ts), and every failure counted for the metrics.
import type { Logger } from 'pino';
import {
  FAILURE_KINDS,
  FAILURES,
  type FailureCounts,
  type FailureKind,
  type FailureObserver,
} from '../server/index.js';
import { BurstLog } from './burst-log.js';

export function failureLog(
  logger: Logger,
  now: () => number,
  intervalMs: number,
  counts: FailureCounts,
  context: () => Record<string, unknown>,
): FailureObserver {
  const logs = new Map<FailureKind, (fields: Record<string, unknown>) => void>();
  for (const kind of FAILURE_KINDS) {
    const { log: message, level } = FAILURES[kind];
    if (message === null) continue;
    // The line carries the details of the event that was logged; the rest of the burst is counted.
    let last: Record<string, unknown> = {};
    const fields = () => ({ reason: kind, ...context(), ...last });
    const log = new BurstLog(logger, now, intervalMs, message, fields, level);
    logs.set(kind, (fields) => {
      last = fields;
      log.hit();
    });
  }
  return (kind, fields) => {
    counts.count(kind, fields);
    logs.get(kind)?.(fields);
  };
}
