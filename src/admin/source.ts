// What the admin API shows, as the agent provides it. admin/ knows this interface and nothing else
// of the agent, so the HTTP side stays a thin shell.

export interface MetricsText {
  contentType: string;
  body: string;
}

export interface Readiness {
  ready: boolean;
  /** What is still missing, e.g. "no name table yet". */
  waiting: string[];
}

export interface AdminSource {
  readiness(): Readiness;
  /** Prometheus text, or undefined when metrics are off (`--no-metrics`). */
  metrics(): Promise<MetricsText> | undefined;
  nameTable(): unknown;
  config(): unknown;
  vips(): unknown;
  /** Counts, or the entries of one name (a promise where other threads are asked). */
  cache(name?: string): unknown;
  /** The upstream servers' figures (a promise where other threads are asked). */
  upstreams(): unknown;
  /** How `name` of `type` would be answered, without side effects. Throws RangeError for bad input. */
  explain(name: string, type: string): Promise<unknown>;
}
