// Hedged tries (issue 14 item 1): when the server asked has not answered within its own recent p95,
// the same query also goes to the next server; the first answer wins and the other reply is dropped.
// A lossy or slow server then costs its p95 instead of a whole per-try timeout, and, unlike asking
// every server at once (Istio's DNS_FORWARD_PARALLEL), only the slowest ~5% of queries are sent twice.

/** Replies a server must have given before its own p95 is trusted; until then `unknownMs` applies. */
const MIN_SAMPLES = 8;
/** New samples between two sorts of the window: the p95 is read per forward, sorted rarely. */
const RESORT_EVERY = 16;

/** The last `size` round trips of one server, and their 95th percentile. */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;
  #sinceSort = RESORT_EVERY;
  #p95: number | undefined;

  constructor(size = 128) {
    this.#samples = new Float64Array(size);
  }

  add(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count++;
    this.#sinceSort++;
  }

  /** The 95th percentile of the window in ms; undefined before MIN_SAMPLES replies. */
  p95(): number | undefined {
    if (this.#count < MIN_SAMPLES) return undefined;
    if (this.#sinceSort >= RESORT_EVERY || this.#p95 === undefined) {
      const sorted = this.#samples.slice(0, this.#count).sort();
      this.#p95 = sorted[Math.min(this.#count - 1, Math.ceil(this.#count * 0.95) - 1)];
      this.#sinceSort = 0;
    }
    return this.#p95;
  }
}

/**
 * `--upstream-hedge`: `off` (one try at a time, the next only after a failure), `auto` (hedge after the
 * server's p95, at least `minMs`, `unknownMs` until it is known) or a fixed delay in ms (0: every
 * server at once, as Istio's DNS_FORWARD_PARALLEL).
 */
export type HedgeMode = 'off' | 'auto' | number;

export interface HedgeRun<R> {
  /** Tries in all; try t goes to server slot t % servers. */
  tries: number;
  /** Distinct servers: at most one try per server is in flight. */
  servers: number;
  /** Starts try t; never rejects. A string: no try started (no time left, or closing). */
  start(t: number): Promise<R> | 'no-time' | 'closed';
  answered(result: R): boolean;
  /** How long try t may go unanswered before the next try goes out beside it. */
  delayMs(t: number): number;
}

export interface HedgeEnd<R> {
  answer: R | undefined;
  /** Every try that ended without an answer, in the order they ended. */
  failures: R[];
  /** Why tries stopped being started, if not because they ran out. */
  stopped: 'no-time' | 'closed' | undefined;
  /** Tries started because a try in flight was slow (not because one failed). */
  hedges: number;
  /** The answer came from such a try. */
  wonByHedge: boolean;
}

/**
 * Runs the tries: the first at once; after a failure the next at once (as without hedging); while
 * tries are in flight and a server is idle, the next after the latest try's delay. Resolves with the
 * first answer, or when every try started has failed and no more can start.
 */
export function runHedged<R>(run: HedgeRun<R>): Promise<HedgeEnd<R>> {
  return new Promise((resolve) => {
    const failures: R[] = [];
    const busy = new Set<number>();
    const hedged = new Set<number>();
    let next = 0;
    let hedges = 0;
    let stopped: HedgeEnd<R>['stopped'];
    let timer: NodeJS.Timeout | undefined;
    let done = false;

    const finish = (answer: R | undefined, wonByHedge: boolean) => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve({ answer, failures, stopped, hedges, wonByHedge });
    };
    const arm = (t: number) => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (next >= run.tries || busy.size >= run.servers) return;
      const delay = run.delayMs(t);
      // 0: every server at once, in this turn (a timer would let a fast first reply win before it fires).
      if (delay <= 0) {
        launch(true);
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        if (!done) launch(true);
      }, delay);
    };
    const settle = (t: number, slot: number, result: R) => {
      busy.delete(slot);
      if (done) return;
      if (run.answered(result)) return finish(result, hedged.has(t));
      failures.push(result);
      if (!launch(false) && busy.size === 0) finish(undefined, false);
    };
    const launch = (asHedge: boolean): boolean => {
      if (next >= run.tries || stopped !== undefined) return false;
      const slot = next % run.servers;
      if (busy.has(slot)) return false;
      const t = next;
      const started = run.start(t);
      if (typeof started === 'string') {
        stopped = started;
        return false;
      }
      next++;
      busy.add(slot);
      if (asHedge) {
        hedges++;
        hedged.add(t);
      }
      void started.then((result) => settle(t, slot, result));
      arm(t);
      return true;
    };

    if (!launch(false)) finish(undefined, false);
  });
}
