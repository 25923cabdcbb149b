// What one try against one upstream server can end with, shared by the UDP and TCP exchanges.
import type { Mismatch } from './message.js';

export type Outcome =
  | { kind: 'reply'; msg: Buffer }
  /** No reply answered the query in time; `rejected` replies that did not answer it came meanwhile. */
  | { kind: 'timeout'; rejected: number }
  | { kind: 'error'; code: string }
  | { kind: 'cancelled' };

export interface ExchangeHooks {
  /** Called for every reply dropped because it does not answer the query we sent. */
  onRejected(why: Mismatch): void;
  /**
   * Registers an open socket until `closed` settles, so close() can cancel the exchange and wait
   * for the handle to be released.
   */
  track(socket: TrackedSocket): void;
}

export interface TrackedSocket {
  cancel(): void;
  closed: Promise<void>;
}

export function errorOutcome(err: unknown): Outcome {
  const e = err as NodeJS.ErrnoException;
  return { kind: 'error', code: e.code ?? e.message ?? String(err) };
}
