// The failure table (issue 9): every way a query can fail to get an answer from where it should,
// mapped in one place to the rcode the client gets, the line that is logged (once per burst, by
// the agent) and the label it is counted under (meshdns_upstream_failures_total{reason} for the
// upstream kinds, meshdns_stage_errors_total{stage} for `stage`).
import { buildEmpty, RCODE } from '../dns/index.js';
import { FORWARD_FAILURES, type ForwardFailure } from '../upstream/index.js';
import type { Request } from './pipeline.js';

/** A forward() failure (upstream/outcome.ts), or `stage`: a stage of the request path threw. */
export type FailureKind = ForwardFailure | 'stage';

export const FAILURE_KINDS: readonly FailureKind[] = [...FORWARD_FAILURES, 'stage'];

interface FailureRow {
  /** What the client gets when no stale answer stands in (SPEC §4: SERVFAIL when upstream fails). */
  rcode: number;
  /** The log line, or null when the event is not worth one (closing is logged by the agent itself). */
  log: string | null;
  /** `error`: a bug of ours; `warn`: the network or an upstream. */
  level: 'warn' | 'error';
}

export const FAILURES: Readonly<Record<FailureKind, FailureRow>> = {
  timeout: {
    rcode: RCODE.SERVFAIL,
    log: 'upstream failed: no server answered within the budget (SERVFAIL, or a stale answer if cached)',
    level: 'warn',
  },
  refused: {
    rcode: RCODE.SERVFAIL,
    log: 'upstream failed: the servers refused the query (connection refused or rcode REFUSED)',
    level: 'warn',
  },
  failed: {
    rcode: RCODE.SERVFAIL,
    log: 'upstream failed: the servers answered SERVFAIL or the exchange failed',
    level: 'warn',
  },
  rejected: {
    rcode: RCODE.SERVFAIL,
    log: 'upstream failed: only replies that do not answer the query arrived (spoofed or confused), dropped',
    level: 'warn',
  },
  overflow: {
    rcode: RCODE.SERVFAIL,
    log: 'upstream queries at --upstream-max-in-flight: SERVFAIL at once',
    level: 'warn',
  },
  closed: { rcode: RCODE.SERVFAIL, log: null, level: 'warn' },
  stage: {
    rcode: RCODE.SERVFAIL,
    log: 'a stage of the request path threw: SERVFAIL (a bug: please report it)',
    level: 'error',
  },
};

/** Told of every failure: the agent logs it once per burst and counts it. */
export type FailureObserver = (kind: FailureKind, fields: { detail: string; stage?: string }) => void;

/** The answer a client gets for a failure of kind `kind`. */
export function failureAnswer(req: Request, kind: FailureKind): Buffer {
  return buildEmpty(req.msg, req.q, FAILURES[kind].rcode, false);
}

/** A copy of the counts, plain data (it crosses threads: answering workers, `--workers`). */
export interface FailureCountsSnapshot {
  byKind: Record<FailureKind, number>;
  byStage: [string, number][];
}

/** Failures counted by kind, and stage errors by stage, for the metrics. */
export class FailureCounts {
  readonly byKind: Record<FailureKind, number> = Object.fromEntries(
    FAILURE_KINDS.map((k) => [k, 0]),
  ) as Record<FailureKind, number>;
  readonly byStage = new Map<string, number>();
  /** Counts kept on other threads, added by `totals()`. */
  private more: () => readonly FailureCountsSnapshot[] = () => [];

  readonly count: FailureObserver = (kind, fields) => {
    this.byKind[kind]++;
    if (fields.stage !== undefined) this.byStage.set(fields.stage, (this.byStage.get(fields.stage) ?? 0) + 1);
  };

  snapshot(): FailureCountsSnapshot {
    return { byKind: { ...this.byKind }, byStage: [...this.byStage] };
  }

  /** From now on, `totals()` adds the counts `more()` returns (the answering workers' last ones). */
  include(more: () => readonly FailureCountsSnapshot[]): void {
    this.more = more;
  }

  /** This thread's counts plus those included (what the metrics show). */
  totals(): FailureCountsSnapshot {
    const byKind = { ...this.byKind };
    const byStage = new Map(this.byStage);
    for (const m of this.more()) {
      for (const k of FAILURE_KINDS) byKind[k] += m.byKind[k] ?? 0;
      for (const [stage, n] of m.byStage) byStage.set(stage, (byStage.get(stage) ?? 0) + n);
    }
    return { byKind, byStage: [...byStage] };
  }
}
