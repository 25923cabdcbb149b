// The controller's thread (`meshdns serve`): reading and parsing the folder, allocating VIPs and
// building the table all happen here, never on the thread that answers DNS (issue 8: a rebuild at
// 50,000 objects stalled answers for seconds). What it sends is a diff of the table, so the agent's
// thread only copies the few shards an edit touched.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { MeshdnsError } from '../errors.js';
import { createLogger } from '../logger.js';
import { packSet } from '../nametable/index.js';
import { Controller } from './controller.js';
import type { ToAgent, ToController, ViewPart, WorkerOptions } from './messages.js';
import { packEntries } from './packed-entries.js';

const port = parentPort!;
let logger: Logger;
/** Names per message (about 0.2 MB): the agent's thread decodes one message in a few milliseconds. */
const PART = 1000;

/**
 * Messages leave in order, and at most IN_FLIGHT view parts wait unacknowledged: a port delivers
 * every message waiting in it in one go. Parts that were objects cost the agent's thread 2-3 ms each
 * to receive (1,000 VIPs or routes), so 100 of them held its loop for 300 ms (50,000 objects), and
 * they went one at a time. Every part is a string now (names and VIPs and routes packed), about
 * 0.2 ms to receive, decoded later in the agent's time slices; one round trip per part had become the
 * cost instead: on a busy machine each took 25-50 ms, 0.4-0.8 s of a 10,000-object start (issue 8).
 */
const IN_FLIGHT = 16;
const outbox: ToAgent[] = [];
let unacked = 0;
function send(m: ToAgent): void {
  outbox.push(m);
  pump();
}
/** Messages whose names are packed already. */
const encoded = new WeakSet<ToAgent>();
function encode(m: ToAgent): void {
  if (encoded.has(m)) return;
  encoded.add(m);
  // Records become JSON only now, a part at a time (see TableDiff.set and packSet).
  if (m.type === 'view-part') {
    if (Array.isArray(m.set)) m.set = packSet(m.set);
    if (Array.isArray(m.vips)) m.vips = packEntries(m.vips);
    if (Array.isArray(m.routes)) m.routes = packEntries(m.routes);
  } else if (m.type === 'view') {
    m.packed = packSet(m.diff.set);
    m.diff.set = [];
  }
}
function pump(): void {
  while (unacked < IN_FLIGHT && outbox.length > 0) {
    const m = outbox.shift()!;
    encode(m);
    port.postMessage(m);
    if (m.type === 'view-part') unacked++;
  }
  // The next part is made ready while the agent's thread takes this one (the two cores overlap).
  if (outbox[0]) encode(outbox[0]);
}

let collected = false;
let quietTimer: NodeJS.Timeout | undefined;
/** The heap in use after the last collection. */
let liveBytes = 0;
/** A view is followed by this long without another before the heap is looked at. */
const QUIET_MS = 200;
/** The heap grown by this share over what was live after the last collection: collect it. */
const GROWTH = 0.25;

/**
 * A full garbage collection: once the agent's thread has applied the first table (issue 8: RSS after
 * load), and after edits (collectIfGrown). The first runs only then: run while the agent's thread still
 * applied, the collection's helper threads took the cores it needed. Reading the folder leaves every
 * file's text and YAML tree behind; V8's memory reducer collects them only after
 * about 30 s of quiet (50,000 objects: RSS 320 MiB, 289 MiB right after this collection). Node offers
 * no collection without `--expose-gc`, which a worker cannot take (V8 flags are per process): the flag
 * is set now and `gc` read from a new context, as test runners do. It runs on this thread, never on
 * the one that answers. Where that fails, the memory reducer's later collection stands.
 */
let gc: (() => void) | undefined;

function collectGarbage(): void {
  try {
    // Started with --expose-gc, the process has it already; else the flag is set for as long as it
    // takes to read it.
    gc ??= (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) {
      setFlagsFromString('--expose-gc');
      try {
        gc = runInNewContext('gc') as () => void;
      } finally {
        // The function stays; the flag goes back. V8 refuses a code cache made under other flags
        // (src/cli/run-bundle.ts): one left set would refuse every bundle's cache loaded after it.
        setFlagsFromString('--no-expose-gc');
      }
    }
    gc();
  } catch (err) {
    logger.debug({ err: (err as Error).message }, 'no garbage collection on the controller thread');
  }
  liveBytes = getHeapStatistics().used_heap_size;
}

/**
 * Every edit leaves a few MB of the old table's parts behind in the old generation, and V8 lets that
 * grow to twice what is live before it collects (50,000 objects: 30 edits took RSS from 300 to 500
 * MiB). Once edits pause, a heap grown by GROWTH is collected: about 85 ms of this thread at 50,000
 * objects, every few edits rather than every edit.
 */
function collectIfGrown(): void {
  if (getHeapStatistics().used_heap_size > liveBytes * (1 + GROWTH)) collectGarbage();
}

/**
 * V8's optimizing compiler runs on helper threads, and on a first load it was a third of the process's
 * CPU (10,000 objects in 100 files: 0.24-0.35 s of 0.8-1.1 s, 155 functions compiled, some twice after
 * a deopt), taken from the two cores the controller and the answering thread need. A function is
 * optimized once it has run INTERRUPT_BUDGET bytes of bytecode; for the first FIRST_LOAD_MS it takes
 * FIRST_LOAD_BUDGET, so that only the hottest are compiled while the load is short. Measured by
 * starting `serve` with a forwarded name asked every 1 ms, five alternated pairs: 10,000 objects, full
 * table 576 -> 507 ms (median), process CPU 0.91 -> 0.72 s; 50,000 objects no different (a longer
 * load pays the compile back); `npm run bench scale`, 10,000 in 100 files: 617-657 -> 545-615 ms. The flag is process-wide: the answering thread's hot paths tier up later for as long. Only V8
 * 11 (Node 20) has the flag; later V8s compile with Maglev first, which costs a fraction of this.
 */
const INTERRUPT_BUDGET = 67584;
const FIRST_LOAD_BUDGET = 300_000;
const FIRST_LOAD_MS = 400;

function compileLessWhileLoading(): void {
  if (process.versions.v8.split('.')[0] !== '11') return;
  setFlagsFromString(`--interrupt-budget=${FIRST_LOAD_BUDGET}`);
  setTimeout(() => setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`), FIRST_LOAD_MS).unref();
}

/** Sends `list` ahead in parts of PART, all but the last; returns that last part. */
function sendAhead<T>(list: T[], part: (slice: T[]) => ViewPart): T[] {
  let start = 0;
  for (; list.length - start > PART; start += PART) send(part(list.slice(start, start + PART)));
  return start === 0 ? list : list.slice(start);
}

function run(opts: WorkerOptions): void {
  compileLessWhileLoading();
  logger = createLogger(opts.logLevel);
  const controller = new Controller({
    ...opts,
    logger,
    onView: (view, errors, { diff, vips, routes }) => {
      const { capture, autoAllocate } = view.config;
      // The receiving thread decodes each message in one go: many small messages keep each decode short.
      diff.set = sendAhead(diff.set, (set) => ({ type: 'view-part', set }));
      vips.set = sendAhead(vips.set, (part) => ({ type: 'view-part', vips: part }));
      routes.set = sendAhead(routes.set, (part) => ({ type: 'view-part', routes: part }));
      send({ type: 'view', diff, vips, routes, capture, autoAllocate, errors: errors.length });
      if (collected) {
        clearTimeout(quietTimer);
        quietTimer = setTimeout(collectIfGrown, QUIET_MS).unref();
      }
    },
  });

  port.on('message', (m: ToController) => {
    if (m.type === 'ack') {
      unacked--;
      pump();
    } else if (m.type === 'applied') {
      if (!collected) setImmediate(collectGarbage);
      collected = true;
    } else if (m.type === 'per-name') {
      // Through the outbox: the answer follows the view that holds the name.
      send({ type: 'per-name', id: m.id, outcome: controller.askPerName(m.name, m.wildcard) });
    } else if (m.type === 'per-name-touched') controller.touchPerName(m.names);
    else if (m.type === 'reload') controller.reload(m.update);
    else if (m.type === 'close') {
      void controller.close().finally(() => {
        logger.flush();
        send({ type: 'closed' });
      });
    }
  });

  controller.start().then(
    () => send({ type: 'started' }),
    (err: unknown) => {
      const e = err instanceof MeshdnsError ? err : undefined;
      send({ type: 'failed', code: e?.code, message: err instanceof Error ? err.message : String(err) });
    },
  );
}

/** Started ahead of its options (PRELOADED_WORKER): the modules above loaded while it waited for them. */
if ((workerData as { preload?: boolean } | undefined)?.preload) {
  const take = (m: ToController) => {
    if (m.type !== 'init') return;
    port.off('message', take);
    run(m.opts);
  };
  port.on('message', take);
} else run(workerData as WorkerOptions);
