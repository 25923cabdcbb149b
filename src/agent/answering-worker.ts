// An answering worker (issue 12 item 5, `--workers N`): a thread with its own UDP socket on the agent's
// port (SO_REUSEPORT: the kernel spreads the clients over the sockets), its own copy of the name table,
// its own cache and upstream sockets. The main thread keeps TCP, the admin API and the VIP proxy, and
// hands each table to every worker as the diff it applied itself (answering-workers.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { MeshdnsError } from '../errors.js';
import { createLogger } from '../logger.js';
import { APPLY_SLICE_MS, NameTable, timeSlicer } from '../nametable/index.js';
import { ClientAllowList } from '../server/index.js';
import { type CacheSnapshotEntry, dumpCache, restoreCache } from '../upstream/index.js';
import { cacheEntry } from './admin-source.js';
import { Agent } from './agent.js';
import type { AnsweringWorkerData, FromWorker, ToWorker } from './answering-messages.js';
import { WorkerPerName } from './answering-per-name.js';

const port = parentPort!;
const data = workerData as AnsweringWorkerData;
const logger = createLogger(data.logLevel).child({ worker: data.index });
const { allowFrom, ...options } = data.options;
const agent = new Agent({
  ...options,
  ...(allowFrom ? { allowFrom: new ClientAllowList(allowFrom) } : {}),
  logger,
  answeringWorker: { counting: data.counting },
});
const slicer = timeSlicer(APPLY_SLICE_MS);
let table = NameTable.empty();
/** Tables are applied one after another, each diff on the one before. */
let applying: Promise<void> = Promise.resolve();
/** Parts of the table being received. */
let parts: string[] = [];

const send = (m: FromWorker) => port.postMessage(m);
const perName =
  data.perNameReportMs === undefined ? undefined : new WorkerPerName(agent, send, data.perNameReportMs);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'part':
      // Decoded here, on this thread: the main thread only wrote the bytes once for every worker.
      parts.push(Buffer.from(m.bytes).toString('utf8'));
      break;
    case 'table': {
      const packed = parts;
      parts = [];
      applying = applying.then(async () => {
        try {
          table = await (m.whole ? NameTable.empty() : table).withDiff(m.diff, slicer, packed);
          agent.setTable(table, m.errors);
          perName?.swapped();
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'a table from the main thread could not be applied');
        }
      });
      break;
    }
    case 'per-name':
      perName?.answered(m.id, m.reply);
      break;
    case 'upstreams':
      agent.setUpstreams(m.servers);
      break;
    case 'search':
      agent.setSearchDomains(m.domains);
      break;
    case 'stats':
      send({ type: 'stats', id: m.id, stats: agent.answeringStats() });
      break;
    case 'cache':
      send({ type: 'cache', id: m.id, entries: agent.cache?.list(m.name).map(cacheEntry) ?? [] });
      break;
    case 'hand-over': {
      const handedOver = () =>
        send({
          type: 'handed-over',
          id: m.id,
          cache: JSON.stringify(agent.cache ? dumpCache(agent.cache) : []),
        });
      // A hand-over that failed still answers, rather than leave the main thread waiting.
      void agent.handOver().then(handedOver, (err: Error) => {
        logger.error({ err: err.message }, 'hand-over');
        handedOver();
      });
      break;
    }
    case 'restore':
      // After the tables queued before it: names the table answers are not put in the cache (isLocal).
      applying = applying.then(async () => {
        if (agent.cache === undefined) return;
        const entries = JSON.parse(m.entries) as CacheSnapshotEntry[];
        await restoreCache(agent.cache, entries, m.elapsedMs, (qkey) => agent.isLocal(qkey));
      });
      break;
    case 'close':
      void agent.close().finally(() => {
        logger.flush();
        send({ type: 'closed' });
        port.close();
      });
      break;
    case 'crash':
      setImmediate(() => {
        throw new Error(`answering worker ${data.index} crashed on purpose (test hook)`);
      });
      break;
  }
});

agent.start().then(
  () => send({ type: 'listening', udpPath: agent.udpPath }),
  (err: unknown) => {
    const e = err instanceof MeshdnsError ? err : undefined;
    send({ type: 'failed', code: e?.code, message: err instanceof Error ? err.message : String(err) });
  },
);
