// When the control plane turns the source's snapshots into tables (issue 10 item 7: one change at every
// agent in under 100 ms). A debounce that always waits puts its whole period in every change's path, so
// the pacing has a leading edge: a change after a quiet period is built at once, and what comes within a
// period of that build waits for the period's end and is built together (a burst costs one build per
// period). Changes no agent can see (the controller's own status writes read back) are not urgent: they
// never open a period, and wait for the next build, at most one period.

export interface BuildPacerOptions {
  /** The shortest time between two urgent builds; 0 builds every change at once. */
  debounceMs: number;
  /** Takes everything offered so far; `urgent`: something agents may see was in it. */
  build: (urgent: boolean) => void;
  /** Monotonic milliseconds; performance.now by default (tests pass their own). */
  now?: () => number;
}

export class BuildPacer {
  readonly #opts: BuildPacerOptions;
  readonly #now: () => number;
  /** When the last urgent build ran: the period it opened ends debounceMs later. */
  #lastUrgent = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #dueAt = Number.POSITIVE_INFINITY;
  #pending: 'none' | 'lazy' | 'urgent' = 'none';
  #closed = false;

  constructor(opts: BuildPacerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Something changed; `urgent` when agents may see it. Builds now or schedules it. */
  offer(urgent: boolean): void {
    if (this.#closed) return;
    if (urgent) this.#pending = 'urgent';
    else if (this.#pending === 'none') this.#pending = 'lazy';
    const now = this.#now();
    const periodEnd = this.#lastUrgent + this.#opts.debounceMs;
    if (urgent && now >= periodEnd) {
      this.flush();
      return;
    }
    // Lazy work waits a whole period from now, urgent work only for the current period's end.
    this.#schedule(urgent ? periodEnd : now + this.#opts.debounceMs);
  }

  /** Builds what is pending now (start-up, a reload). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAt = Number.POSITIVE_INFINITY;
    if (this.#pending === 'none' || this.#closed) return;
    const urgent = this.#pending === 'urgent';
    this.#pending = 'none';
    if (urgent) this.#lastUrgent = this.#now();
    this.#opts.build(urgent);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Keeps the earliest due time of what is pending. */
  #schedule(at: number): void {
    if (this.#timer && this.#dueAt <= at) return;
    clearTimeout(this.#timer);
    this.#dueAt = at;
    this.#timer = setTimeout(() => this.flush(), Math.max(0, at - this.#now()));
  }
}

/**
 * When the controller's own status writes may start (issue 10: the start-up writes 10,000; each costs the
 * event loop its request, its response and the entry read back through the watch). A change agents may see
 * closes the gate for a short while, so its build and its pushes have the loop to themselves; writes
 * already started carry on, and each opening lets the writer start its next few, so a steady stream of
 * changes slows the writes but never stops them.
 */
export class StatusGate {
  readonly #now: () => number;
  #openAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #opened: Promise<void> | undefined;
  #open: (() => void) | undefined;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Closes the gate for `ms` from now; a hold while closed ends at the later of the two. */
  hold(ms: number): void {
    const until = this.#now() + ms;
    if (until <= this.#openAt) return;
    this.#openAt = until;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#release(), ms);
  }

  /** A promise that resolves when the gate opens, or undefined while it is open. */
  closed(): Promise<void> | undefined {
    if (this.#timer === undefined) return undefined;
    this.#opened ??= new Promise<void>((resolve) => {
      this.#open = resolve;
    });
    return this.#opened;
  }

  /** Opens the gate for good (the controller is closing). */
  close(): void {
    this.#openAt = Number.NEGATIVE_INFINITY;
    this.#release();
  }

  #release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const open = this.#open;
    this.#opened = undefined;
    this.#open = undefined;
    open?.();
  }
}
