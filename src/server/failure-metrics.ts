// Metrics of the failure table (failures.ts), read at scrape time.
import { counterFrom, type Registry } from '../metrics.js';
import { FORWARD_FAILURES } from '../upstream/index.js';
import type { FailureCounts } from './failures.js';

export function failureMetrics(registry: Registry, counts: FailureCounts): void {
  counterFrom(
    registry,
    'meshdns_upstream_failures_total',
    'Forwarded queries without an answer, by reason: timeout, refused, failed (SERVFAIL or a network ' +
      'error), rejected (only mismatched replies), overflow (--upstream-max-in-flight), closed (shutdown).',
    () => {
      const { byKind } = counts.totals();
      return FORWARD_FAILURES.map((reason): [Record<string, string>, number] => [{ reason }, byKind[reason]]);
    },
    ['reason'],
  );
  counterFrom(
    registry,
    'meshdns_stage_errors_total',
    'Queries answered SERVFAIL because a stage of the request path threw (a bug).',
    () => counts.totals().byStage.map(([stage, n]): [Record<string, string>, number] => [{ stage }, n]),
    ['stage'],
  );
}
