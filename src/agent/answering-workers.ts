// The main thread's side of the answering workers (issue 12 item 5, `--workers N`): starts N-1 threads
// beside the main one, each answering UDP on the agent's port through SO_REUSEPORT; hands every table to
// each as the diff the main thread applied (a worker that starts later gets the whole table once); adds
// up what they counted for the metrics and /debug/*; and restarts one that dies, which the others and the
// main thread outlive: the kernel moves the dead socket's clients to the sockets left in the group.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { MeshdnsError } from '../errors.js';
import type { NameTable } from '../nametable/index.js';
import type { PerNameClient } from '../server/index.js';
import type { CacheSnapshotEntry, UpstreamServer } from '../upstream/index.js';
import type { AnsweringWorkerData, FromWorker, TableChange, ToWorker } from './answering-messages.js';
import { type AnsweringStats, retire } from './answering-stats.js';

export interface AnsweringWorkersOptions {
  /** Worker threads to run (the main thread answers too: `--workers` minus one). */
  threads: number;
  /** Everything but the index. */
  data: Omit<AnsweringWorkerData, 'index'>;
  logger: Logger;
  /** The table and config errors a (re)started worker begins with: the main thread's current ones. */
  current(): { table: NameTable | undefined; errors: number };
  /** The upstream servers now (they change on SIGHUP). */
  upstreams(): readonly UpstreamServer[];
  /** Hears each worker's forwards counted since its last report (Istio's counters, replayed once). */
  onUpstream(stats: NonNullable<AnsweringStats['upstream']>): void;
  /** Delay before restarting a worker that died, doubled for each quick death in a row (tests lengthen it). */
  restartDelayMs?: number;
  /** Per-name VIPs: a worker's requests and reports go to the main thread's allocator link. */
  perName?: PerNameClient & { touched(names: string[]): void };
}

/** A worker that lived less than this before it died is restarted after a growing delay. */
const STEADY_MS = 10_000;
const RESTART_DELAY_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that does not report within this is left out of one scrape (its last figures are used). */
const REPORT_TIMEOUT_MS = 2_000;
const CLOSE_TIMEOUT_MS = 5_000;

/** A table message waiting to be posted: a part of its names, or the message that ends it. */
interface Queued {
  seq: number;
  part?: string;
  message?: ToWorker;
}

interface Slot {
  index: number;
  /** The last table message already in the table this worker started with. */
  since: number;
  worker: Worker | undefined;
  /** Its socket is bound: it answers. */
  listening: boolean;
  startedAt: number;
  /** Dead starts in a row (each lived under STEADY_MS). */
  quickDeaths: number;
  last: AnsweringStats | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface AnsweringWorkersStatus {
  /** Worker threads asked for (the main thread not counted). */
  threads: number;
  /** Of them, running now. */
  running: number;
  /** Workers that died and were started again. */
  restarts: number;
  /** UDP datagrams each worker received, as last refreshed (by worker number - 1; null while down). */
  datagrams: (number | null)[];
}

export class AnsweringWorkers {
  readonly #opts: AnsweringWorkersOptions;
  readonly #slots: Slot[];
  readonly #waiting = new Map<number, (reply: FromWorker | undefined) => void>();
  #nextId = 0;
  /** Table messages not yet posted, in order (see setTable). */
  readonly #outbox: Queued[] = [];
  #seq = 0;
  #pumping = false;
  #closing = false;
  #restarts = 0;
  /** The counters of workers gone, so that totals never go back (gauges left out). */
  #retired: AnsweringStats | undefined;

  constructor(opts: AnsweringWorkersOptions) {
    this.#opts = opts;
    this.#slots = Array.from({ length: opts.threads }, (_, i) => ({
      index: i + 1,
      since: 0,
      worker: undefined,
      listening: false,
      startedAt: 0,
      quickDeaths: 0,
      last: undefined,
      restartTimer: undefined,
    }));
  }

  /** Starts every worker; resolves once each listens, rejects with the first one's failure to. */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => this.#spawn(slot)));
  }

  status(): AnsweringWorkersStatus {
    const running = this.#slots.filter((s) => s.listening).length;
    const datagrams = this.#slots.map((s) => (s.listening && s.last ? s.last.udp.datagrams : null));
    return { threads: this.#slots.length, running, restarts: this.#restarts, datagrams };
  }

  /**
   * Hands the table the main thread swapped in to every worker: its diff when given, else (rarely) the
   * whole table. The names go a part per event-loop turn (about 1,000 names), each written once into
   * shared memory that every worker reads (posting the strings would copy them per worker, on this
   * thread: 8-15 ms per worker for 50,000 names in one message), so answering here never waits long.
   */
  setTable(table: NameTable, errors: number, change: TableChange | undefined): void {
    const c = change ? { ...change, whole: false } : wholeTable(table);
    if (c === undefined) return;
    for (const text of c.packed) this.#queue({ part: text });
    this.#queue({ message: { type: 'table', errors, diff: c.diff, whole: c.whole } });
  }

  #queue(item: Omit<Queued, 'seq'>): void {
    this.#outbox.push({ ...item, seq: ++this.#seq });
    if (this.#pumping) return;
    this.#pumping = true;
    setImmediate(() => this.#pump());
  }

  /** Sends queued table messages in order, at most one part per turn, to each worker that needs them. */
  #pump(): void {
    while (this.#outbox.length > 0) {
      const item = this.#outbox.shift()!;
      const m: ToWorker = item.message ?? { type: 'part', bytes: sharedText(item.part!) };
      // A worker started after this was queued began with the whole table, which holds it already.
      for (const slot of this.#slots) if (slot.worker && slot.since < item.seq) slot.worker.postMessage(m);
      if (item.part !== undefined && this.#outbox.length > 0) {
        setImmediate(() => this.#pump());
        return;
      }
    }
    this.#pumping = false;
  }

  setUpstreams(servers: readonly UpstreamServer[]): void {
    this.#post({ type: 'upstreams', servers: [...servers] });
  }

  /** A new search list (SIGHUP re-read resolv.conf): autopath's domain in every worker. */
  setSearchDomains(domains: readonly string[]): void {
    this.#post({ type: 'search', domains: [...domains] });
  }

  /** Asks every running worker for its figures; resolves when all replied (or timed out). */
  async refresh(): Promise<void> {
    await Promise.all(
      this.#slots.map(async (slot) => {
        const reply = await this.#ask(slot, (id) => ({ type: 'stats', id }));
        if (reply?.type !== 'stats') return;
        slot.last = reply.stats;
        if (reply.stats.upstream) this.#opts.onUpstream(reply.stats.upstream);
      }),
    );
  }

  /** The workers' figures as last refreshed, those of workers gone included (counters only). */
  stats(): AnsweringStats[] {
    const out: AnsweringStats[] = [];
    for (const slot of this.#slots) if (slot.worker !== undefined && slot.last) out.push(slot.last);
    if (this.#retired) out.push(this.#retired);
    return out;
  }

  /** The cache entries of `name` on every worker, each marked with its worker. */
  async cacheEntries(name: string): Promise<unknown[]> {
    const lists = await Promise.all(
      this.#slots.map(async (slot) => {
        const reply = await this.#ask(slot, (id) => ({ type: 'cache', id, name }));
        if (reply?.type !== 'cache') return [];
        return reply.entries.map((e) => ({ worker: slot.index, ...(e as object) }));
      }),
    );
    return lists.flat();
  }

  /**
   * A restart (issue 14 item 3): every worker stops taking queries (the successor's sockets get them) and
   * answers those it took, within `timeoutMs`; resolves with their caches, for the snapshot. close() follows.
   */
  async handOver(timeoutMs: number): Promise<CacheSnapshotEntry[]> {
    // No worker is restarted from here on: a new one would join the port's group again.
    this.#closing = true;
    const caches = await Promise.all(
      this.#slots.map(async (slot) => {
        const reply = await this.#ask(slot, (id) => ({ type: 'hand-over', id }), timeoutMs);
        return reply?.type === 'handed-over' ? (JSON.parse(reply.cache) as CacheSnapshotEntry[]) : [];
      }),
    );
    return caches.flat();
  }

  /**
   * A predecessor's cache, into every worker's (the kernel spreads clients over the threads without
   * regard to which thread of the old process had them), aged by `elapsedMs`. One JSON text for all.
   */
  restoreCache(entries: readonly CacheSnapshotEntry[], elapsedMs: number): void {
    if (entries.length === 0) return;
    // Queued behind the table messages not yet posted: a worker restores once it has the table.
    this.#queue({ message: { type: 'restore', entries: JSON.stringify(entries), elapsedMs } });
  }

  /** Test hook: worker `index` (1..) throws from its event loop, as a bug would. */
  crash(index: number): void {
    this.#slots[index - 1]?.worker?.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#outbox.length = 0;
    await Promise.all(
      this.#slots.map(async (slot) => {
        clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (worker === undefined) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.postMessage({ type: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  #post(m: ToWorker): void {
    for (const slot of this.#slots) slot.worker?.postMessage(m);
  }

  #ask(
    slot: Slot,
    make: (id: number) => ToWorker,
    timeoutMs = REPORT_TIMEOUT_MS,
  ): Promise<FromWorker | undefined> {
    const worker = slot.worker;
    if (worker === undefined) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (reply: FromWorker | undefined) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        worker.off('exit', gone);
        resolve(reply);
      };
      const gone = () => done(undefined);
      worker.once('exit', gone);
      this.#waiting.set(id, done);
      worker.postMessage(make(id));
    });
  }

  /** Starts the worker of `slot`; resolves once it listens, rejects if it cannot. */
  #spawn(slot: Slot): Promise<void> {
    const data: AnsweringWorkerData = { ...this.#opts.data, index: slot.index };
    data.options = { ...data.options, upstreams: [...this.#opts.upstreams()] };
    const worker = new Worker(new URL('./answering-worker.js', import.meta.url), { workerData: data });
    slot.worker = worker;
    slot.startedAt = performance.now();
    slot.last = undefined;
    // The table first: the worker answers (forwarding) from its start, and from this table once applied.
    const { table, errors } = this.#opts.current();
    // The main thread's table holds every table message queued so far: those are not sent to this worker.
    slot.since = this.#seq;
    const whole = table && wholeTable(table);
    if (whole) {
      for (const text of whole.packed)
        worker.postMessage({ type: 'part', bytes: sharedText(text) } satisfies ToWorker);
      worker.postMessage({ type: 'table', errors, diff: whole.diff, whole: true } satisfies ToWorker);
    }
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'listening') {
          slot.listening = true;
          resolve();
        } else if (m.type === 'failed') {
          reject(m.code ? new MeshdnsError(m.code as never, m.message) : new Error(m.message));
          void worker.terminate();
        } else if (m.type === 'stats' || m.type === 'cache' || m.type === 'handed-over') {
          this.#waiting.get(m.id)?.(m);
        } else if (m.type === 'per-name-touched') this.#opts.perName?.touched(m.names);
        else if (m.type === 'per-name') {
          const asked = this.#opts.perName?.ask(m.name, m.wildcard) ?? Promise.resolve('unknown' as const);
          void asked.then((reply) =>
            worker.postMessage({ type: 'per-name', id: m.id, reply } satisfies ToWorker),
          );
        }
      });
      worker.on('error', (err) => {
        this.#opts.logger.error(
          { worker: slot.index, err: err.message },
          'answering worker failed: the other threads keep answering; it is restarted',
        );
      });
      worker.on('exit', (code) => {
        const listened = slot.listening;
        slot.worker = undefined;
        slot.listening = false;
        this.#retire(slot.last);
        slot.last = undefined;
        if (!listened)
          reject(new Error(`answering worker ${slot.index} exited (${code}) before it listened`));
        else if (!this.#closing) this.#restart(slot, code);
      });
    });
  }

  #restart(slot: Slot, code: number): void {
    const lived = performance.now() - slot.startedAt;
    slot.quickDeaths = lived < STEADY_MS ? slot.quickDeaths + 1 : 0;
    const first = this.#opts.restartDelayMs ?? RESTART_DELAY_MS;
    const delay = Math.min(Math.max(first, RESTART_MAX_MS), first * 2 ** Math.max(0, slot.quickDeaths - 1));
    this.#restarts++;
    this.#opts.logger.warn(
      { worker: slot.index, code, restartInMs: delay, restarts: this.#restarts },
      'answering worker exited; restarting it',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#closing) return;
      this.#spawn(slot).catch((err: Error) => {
        this.#opts.logger.error({ worker: slot.index, err: err.message }, 'answering worker did not restart');
        if (slot.worker === undefined && !this.#closing) this.#restart(slot, -1);
      });
    }, delay);
    slot.restartTimer.unref();
  }

  /** A dead worker's counters join the retired totals; its gauges (cache size, in flight) are gone with it. */
  #retire(stats: AnsweringStats | undefined): void {
    if (stats !== undefined) this.#retired = retire(this.#retired, stats);
  }
}

/** The whole of `table`, in packed parts (a worker that starts after the first table). */
function wholeTable(table: NameTable): (TableChange & { whole: boolean }) | undefined {
  const whole = table.toDiff();
  return whole && { ...whole, whole: true };
}

/** `text` as UTF-8 in memory every worker can read without a copy being made for it. */
function sharedText(text: string): SharedArrayBuffer {
  const bytes = new SharedArrayBuffer(Buffer.byteLength(text));
  Buffer.from(bytes).write(text);
  return bytes;
}
