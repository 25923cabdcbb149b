/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from initialMs up to maxMs, then "equal
 * jitter" (half fixed, half random) so agents that lost the same controller do not return in lockstep,
 * and no agent waits longer than the cap.
 */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
