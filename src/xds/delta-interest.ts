// Which resources of one type a delta stream's agent asked for (Envoy's incremental xDS): every one
// (wildcard: the first request names none, or names "*"), or the names it subscribed, changed by later
// requests' resource_names_subscribe / resource_names_unsubscribe. A name subscribed since the last
// response is "fresh": it is sent whether or not it changed, and one that does not exist is listed in
// removed_resources, which is how the protocol says a resource does not exist.

const WILDCARD = '*';

export class DeltaInterest {
  wildcard: boolean;
  /** Names asked for by name (kept while the wildcard is on, for when it goes off). */
  readonly named = new Set<string>();
  /** Subscribed since the last response. */
  readonly fresh = new Set<string>();

  /** The first request of a type. */
  constructor(subscribe: readonly string[]) {
    this.wildcard = subscribe.length === 0 || subscribe.includes(WILDCARD);
    this.#add(subscribe);
  }

  has(name: string): boolean {
    return this.wildcard || this.named.has(name);
  }

  /**
   * A later request's changes. Returns 'whole' when the wildcard came on (everything not held must be
   * compared and sent), 'fresh' when new names await a response, else undefined.
   */
  change(subscribe: readonly string[], unsubscribe: readonly string[]): 'whole' | 'fresh' | undefined {
    for (const name of unsubscribe) {
      if (name === WILDCARD) this.wildcard = false;
      else {
        this.named.delete(name);
        this.fresh.delete(name);
      }
    }
    const wasWildcard = this.wildcard;
    this.#add(subscribe);
    if (!wasWildcard && subscribe.includes(WILDCARD)) {
      this.wildcard = true;
      return 'whole';
    }
    return this.fresh.size > 0 ? 'fresh' : undefined;
  }

  #add(subscribe: readonly string[]): void {
    for (const name of subscribe) {
      if (name === WILDCARD || this.named.has(name)) continue;
      this.named.add(name);
      if (!this.wildcard) this.fresh.add(name);
    }
  }
}
