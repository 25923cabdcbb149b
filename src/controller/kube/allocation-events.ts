// Which allocation errors become an Event, on which ServiceEntry, with which reason: the allocator's errors
// name the entry and host in a fixed form (`ServiceEntry <ns>/<name> (<source>) host <host>: <why>`).
import type { Allocation } from '../../allocate/index.js';
import type { ErrorCode } from '../../errors.js';

export type AllocationEventReason = 'VipExhausted' | 'VipConflict' | 'VipOutsideRange';

export interface AllocationEvent {
  namespace: string;
  name: string;
  reason: AllocationEventReason;
  /** `host <host>: <why>`: the entry is the Event's object already. */
  note: string;
}

const REASONS: Partial<Record<ErrorCode, AllocationEventReason>> = {
  MESHDNS_VIP_EXHAUSTED: 'VipExhausted',
  MESHDNS_VIP_CONFLICT: 'VipConflict',
  MESHDNS_VIP_OUTSIDE_RANGE: 'VipOutsideRange',
};

const LABEL = /^ServiceEntry ([^/\s]+)\/(\S+) \(.*?\) (host \S+: .*)$/s;

/** The Events an allocation's errors call for; errors of other kinds or forms are not Events. */
export function allocationEvents(allocation: Pick<Allocation, 'errors'>): AllocationEvent[] {
  const out: AllocationEvent[] = [];
  for (const err of allocation.errors) {
    const reason = REASONS[err.code];
    const m = reason ? LABEL.exec(err.message) : null;
    if (reason && m) out.push({ namespace: m[1]!, name: m[2]!, reason, note: m[3]! });
  }
  return out;
}
