// The agent's own figures: table size and config reloads (SPEC §8), read at scrape time.
import { counterFrom, gaugeFrom, type Registry } from '../metrics.js';

export interface ConfigCounters {
  reloads: number;
  /** Invalid objects left out of the last load. */
  errors: number;
}

export function agentMetrics(registry: Registry, tableSize: () => number, config: ConfigCounters): void {
  gaugeFrom(registry, 'meshdns_table_names', 'Names in the name table (exact, wildcard, search).', tableSize);
  counterFrom(registry, 'meshdns_config_reloads_total', 'Name tables swapped in.', () => config.reloads);
  gaugeFrom(
    registry,
    'meshdns_config_errors',
    'Invalid objects left out of the last configuration load.',
    () => config.errors,
  );
}

/** The answering threads (`--workers`): how many answer now and how many restarts a death cost. */
export function workerMetrics(registry: Registry, status: () => { running: number; restarts: number }): void {
  gaugeFrom(
    registry,
    'meshdns_answering_threads',
    'Threads answering DNS over UDP now (--workers; the main thread included).',
    () => status().running,
  );
  counterFrom(
    registry,
    'meshdns_answering_worker_restarts_total',
    'Answering worker threads that died and were started again (each logged).',
    () => status().restarts,
  );
}
