// A coordination.k8s.io/v1 Lease's spec as leader election reads and writes it (client-go's
// LeaderElectionRecord): who holds it, for how long, since when, and how often it changed hands.
import { type V1Lease, type V1LeaseSpec, V1MicroTime } from '@kubernetes/client-node';

export interface LeaseRecord {
  /** '' when nobody holds it (released). */
  holder: string;
  durationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  transitions: number;
}

/** client-node hands MicroTime fields back as the string the server sent (or a Date): one form for comparing. */
function timeText(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  return t instanceof Date ? t.toISOString() : String(t);
}

export function recordOf(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  const acquireTime = timeText(spec.acquireTime);
  const renewTime = timeText(spec.renewTime);
  return {
    holder: spec.holderIdentity ?? '',
    durationSeconds: spec.leaseDurationSeconds ?? 0,
    ...(acquireTime !== undefined ? { acquireTime } : {}),
    ...(renewTime !== undefined ? { renewTime } : {}),
    transitions: spec.leaseTransitions ?? 0,
  };
}

/** Equal keys: the record did not change (client-go compares the raw record the same way). */
export function recordKey(r: LeaseRecord): string {
  return JSON.stringify([r.holder, r.durationSeconds, r.acquireTime, r.renewTime, r.transitions]);
}

/** The spec to write. Times go out as MicroTime (6 fraction digits), which is what the API server parses. */
export function specOf(r: {
  holder: string;
  durationSeconds: number;
  acquireMs: number;
  renewMs: number;
  transitions: number;
}): V1LeaseSpec {
  return {
    holderIdentity: r.holder,
    leaseDurationSeconds: r.durationSeconds,
    acquireTime: new V1MicroTime(r.acquireMs),
    renewTime: new V1MicroTime(r.renewMs),
    leaseTransitions: r.transitions,
  };
}
