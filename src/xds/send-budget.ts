// How many bytes of large responses the server has handed to gRPC and not yet seen flushed. gRPC copies
// every message into a frame of its own per stream and HTTP/2 keeps that frame until the agent's flow
// control lets it out: 200 agents syncing a 3.4 MB table at once held 680 MB of frames (issue 10), garbage
// only after each slow reader caught up. Past the budget a large send waits for another to flush; the
// bytes go out no slower (the readers set the pace), but only a budget's worth is held at once. Small
// responses (one changed host) never wait. A send that has not flushed in `staleMs` (an agent that stopped
// reading) stops counting, so it cannot stall the others; its frame is freed when its stream ends.

export interface SendBudgetOptions {
  /** Bytes of large responses in flight at once (one response larger than this still goes, alone). */
  bytes: number;
  /** Responses at least this large are counted and may wait; smaller ones never do. */
  largeBytes: number;
  /** A counted response not flushed after this long stops counting. */
  staleMs: number;
}

/** One counted send: given back when flushed, when its stream ends, or when stale, whichever comes first. */
export interface SendGrant {
  release(): void;
}

const NONE: SendGrant = { release: () => {} };

export class SendBudget {
  readonly #opts: SendBudgetOptions;
  #inFlight = 0;
  /** Streams waiting for room, in arrival order; each called once, when there may be room. */
  readonly #waiting = new Set<() => void>();

  constructor(opts: SendBudgetOptions) {
    this.#opts = opts;
  }

  /** Bytes counted now (for /debug and tests). */
  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * A grant for a response of `bytes`, or undefined when it must wait (then `wait`). `force`: counted, but
   * never refused (a response whose making already moved the stream on).
   */
  take(bytes: number, force = false): SendGrant | undefined {
    if (bytes < this.#opts.largeBytes) return NONE;
    if (!force && this.#inFlight > 0 && this.#inFlight + bytes > this.#opts.bytes) return undefined;
    this.#inFlight += bytes;
    let held = true;
    const stale = setTimeout(() => grant.release(), this.#opts.staleMs);
    stale.unref();
    const grant = {
      release: () => {
        if (!held) return;
        held = false;
        clearTimeout(stale);
        this.#inFlight -= bytes;
        this.#wake();
      },
    };
    return grant;
  }

  /** Calls `onRoom` once when a counted send is given back; returns the function that cancels the wait. */
  wait(onRoom: () => void): () => void {
    this.#waiting.add(onRoom);
    return () => this.#waiting.delete(onRoom);
  }

  #wake(): void {
    // Each waiter tries again in arrival order; those that find no room wait again (at the end).
    const waiters = [...this.#waiting];
    this.#waiting.clear();
    for (const w of waiters) w();
  }
}
