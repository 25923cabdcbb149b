// Capped exponential backoff with jitter for list/watch retries: many controllers that lost the API
// server at once must not come back in step (client-go's reflector does the same).
import { KUBE_RETRY_MAX_MS, KUBE_RETRY_MIN_MS } from './tuning.js';

export class Backoff {
  readonly #random: () => number;
  #failures = 0;

  constructor(random: () => number) {
    this.#random = random;
  }

  /** The wait before the next try: the step doubles per failure up to the cap, half of it random. */
  next(): number {
    const step = Math.min(KUBE_RETRY_MAX_MS, KUBE_RETRY_MIN_MS * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return step / 2 + this.#random() * (step / 2);
  }

  reset(): void {
    this.#failures = 0;
  }
}
