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
import { type BurstLine, burstLogs } from './burst-log.js';

export function failureLog(
  logger: Logger,
  now: () => number,
  intervalMs: number,
  counts: FailureCounts,
  context: () => Record<string, unknown>,
): FailureObserver {
  const lines = FAILURE_KINDS.flatMap((kind) => {
    const { log: message, level } = FAILURES[kind];
    if (message === null) return [];
    const line: BurstLine = { message, level, fields: { reason: kind } };
    return [[kind, line] as const];
  });
  const log = burstLogs<FailureKind>(logger, now, intervalMs, lines, context);
  return (kind, fields) => {
    counts.count(kind, fields);
    log(kind, fields);
  };
}
