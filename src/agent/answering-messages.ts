// The messages between the agent's main thread and its answering workers (`--workers`): plain data only
// (structured clone), and the options a worker starts with.
import type { PackedSet, TableDiff } from '../nametable/index.js';
import type { Cidr, PerNameReply, UdpPath } from '../server/index.js';
import type { UpstreamServer } from '../upstream/index.js';
import type { AgentOptions } from './agent.js';
import type { AnsweringStats } from './answering-stats.js';

/** A table as the main thread swapped it in: the diff from the one before, its names packed. */
export interface TableChange {
  diff: TableDiff;
  packed: readonly PackedSet[];
}

/** The agent options a worker is started with: the plain ones, the allow list as its CIDRs. */
export type WorkerAgentOptions = Pick<
  AgentOptions,
  | 'listen'
  | 'listenLoopbackV6'
  | 'upstreams'
  | 'upstreamTimeoutMs'
  | 'upstreamAttempts'
  | 'upstreamPerTryTimeoutMs'
  | 'servfailBeforeTable'
  | 'udp'
  | 'upstreamMaxInFlight'
  | 'upstreamMaxFails'
  | 'upstreamHealthCheckMs'
  | 'upstreamHedge'
  | 'searchDomains'
  | 'autopath'
  | 'cache'
  | 'logQueries'
  | 'workers'
> & { allowFrom?: Cidr[] };

export interface AnsweringWorkerData {
  /** 1.. (the main thread is 0), in logs. */
  index: number;
  logLevel: string;
  /** Count queries for the main thread's metrics (off with `--no-metrics`). */
  counting: boolean;
  options: WorkerAgentOptions;
  /** Per-name VIPs (issue 14 item 5) are asked of the main thread; names answered are reported this often. */
  perNameReportMs?: number;
}

export type ToWorker =
  /** Names of the next table, packed (PackedSet) as UTF-8 in memory shared by every worker: not copied per worker. */
  | { type: 'part'; bytes: SharedArrayBuffer }
  /**
   * The table: the parts received since the last one, then `diff`; `whole`: a whole table (a worker that
   * starts later, or a table swapped in without its diff), applied to an empty one.
   */
  | { type: 'table'; errors: number; diff: TableDiff; whole: boolean }
  | { type: 'upstreams'; servers: UpstreamServer[] }
  | { type: 'search'; domains: string[] }
  | { type: 'stats'; id: number }
  | { type: 'cache'; id: number; name: string }
  /**
   * A restart (issue 14 item 3): stop taking queries, answer those taken, then send the cache (`handed-over`)
   * for the snapshot; `close` follows.
   */
  | { type: 'hand-over'; id: number }
  /** A predecessor's cache entries (CacheSnapshotEntry[] as JSON: one string copied per worker), aged by `elapsedMs`. */
  | { type: 'restore'; entries: string; elapsedMs: number }
  /** The main thread's answer to a per-name request: `allocated` once its own table holds the name. */
  | { type: 'per-name'; id: number; reply: PerNameReply }
  | { type: 'close' }
  /** Test hook: the worker throws from its event loop, as a bug would. */
  | { type: 'crash' };

export type FromWorker =
  | { type: 'listening'; udpPath: UdpPath }
  | { type: 'failed'; code?: string; message: string }
  | { type: 'stats'; id: number; stats: AnsweringStats }
  | { type: 'cache'; id: number; entries: unknown[] }
  /** Its cache as CacheSnapshotEntry[] in JSON, once the queries it had taken are answered. */
  | { type: 'handed-over'; id: number; cache: string }
  /** A VIP for `name`, first asked under the per-name wildcard `wildcard`. */
  | { type: 'per-name'; id: number; name: string; wildcard: string }
  /** Per-name names this worker answered since its last report. */
  | { type: 'per-name-touched'; names: string[] }
  | { type: 'closed' };

/** What a worker is started with, from the main thread's options and the port it bound. */
export function workerOptions(
  opts: AgentOptions,
  port: number,
  counting: boolean,
): Omit<AnsweringWorkerData, 'index'> {
  const options: WorkerAgentOptions = {
    listen: { host: opts.listen.host, port },
    listenLoopbackV6: opts.listenLoopbackV6,
    upstreams: opts.upstreams,
    upstreamTimeoutMs: opts.upstreamTimeoutMs,
    upstreamAttempts: opts.upstreamAttempts,
    upstreamPerTryTimeoutMs: opts.upstreamPerTryTimeoutMs,
    servfailBeforeTable: opts.servfailBeforeTable,
    udp: opts.udp,
    upstreamMaxInFlight: opts.upstreamMaxInFlight,
    upstreamMaxFails: opts.upstreamMaxFails,
    upstreamHealthCheckMs: opts.upstreamHealthCheckMs,
    upstreamHedge: opts.upstreamHedge,
    searchDomains: opts.searchDomains,
    autopath: opts.autopath,
    cache: opts.cache,
    logQueries: opts.logQueries,
    workers: opts.workers,
  };
  if (opts.allowFrom) options.allowFrom = [...opts.allowFrom.cidrs];
  // Undefined fields stay out: structured clone keeps them, and the agent takes `undefined` as given.
  for (const k of Object.keys(options) as (keyof WorkerAgentOptions)[]) {
    if (options[k] === undefined) delete options[k];
  }
  return { logLevel: opts.logger.level, counting, options };
}
