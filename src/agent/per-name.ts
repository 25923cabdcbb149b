// Per-name VIPs (issue 14 item 5) as the agent answers them: whether upstream knows the name, the
// allocator's answer, and each refusal counted as a bound reached (SPEC §10) or logged once per burst.
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import { QTYPE } from '../dns/index.js';
import type { NameTable } from '../nametable/index.js';
import {
  PerNameAnswers,
  type PerNameClient,
  type ServerLimits,
  type UpstreamClient,
} from '../server/index.js';
import { BurstLog } from './burst-log.js';

export interface PerNameAnswersDeps {
  /** The allocator's side: resolves once this thread's table (and the VIP's route) holds the name. */
  ask: PerNameClient['ask'];
  upstream: Pick<UpstreamClient, 'query'>;
  table: () => NameTable | undefined;
  limits: ServerLimits;
  logger: Logger;
  now: () => number;
}

export function perNameAnswers(deps: PerNameAnswersDeps): PerNameAnswers {
  const late = new BurstLog(
    deps.logger,
    deps.now,
    DEFAULTS.burstLogIntervalMs,
    `no per-name VIP within ${DEFAULTS.wildcardVipAskTimeoutMs} ms: answered without one (the next query gets it)`,
  );
  const follower = new BurstLog(
    deps.logger,
    deps.now,
    DEFAULTS.burstLogIntervalMs,
    'the controller replica this agent is connected to does not hold the Lease: answered without a per-name VIP (README "Per-name VIPs", cluster mode)',
  );
  return new PerNameAnswers({
    client: { ask: deps.ask },
    table: deps.table,
    timeoutMs: DEFAULTS.wildcardVipAskTimeoutMs,
    exists: async (name) => {
      for (const qtype of [QTYPE.A, QTYPE.AAAA]) {
        const result = await deps.upstream.query(name, qtype);
        if (result.kind === 'answered' && result.replyClass === 'success') return true;
      }
      return false;
    },
    refused: (reply, name) => {
      if (reply === 'cap') deps.limits.reached('wildcard_vips', { name });
      else if (reply === 'rate') deps.limits.reached('wildcard_vip_rate', { name });
      else if (reply === 'timeout') late.hit();
      else if (reply === 'not-leader') follower.hit();
    },
  });
}
