// UDP listener on one of two I/O paths with the same answers (issue 12 items 1-2): `native` receives and
// sends in batches through the netio addon (recvmmsg/sendmmsg), `dgram` is node:dgram, where datagrams
// that arrive in one turn of the event loop are answered as one batch, each reply its own send().
import dgram from 'node:dgram';
import { DEFAULTS } from '../defaults.js';
import { isCheckedIPv6, QuestionScan, scanQuestion } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import { BatchSocket, batchSocketSupport, type RecvBatch } from '../netio/index.js';
import { type AnswerTemplate, AnswerTemplates } from './answer-templates.js';
import type { ClientAllowList } from './client-access.js';
import type { ServerLimits } from './limits.js';
import { type AnswerNote, answerNote, type Pipeline } from './pipeline.js';
import { nodeHasReusePort } from './reuse-port.js';

/** `auto`: native where the addon loaded, else dgram. */
export type UdpIo = 'auto' | 'native' | 'dgram';

export interface UdpSettings {
  io: UdpIo;
  /** SO_RCVBUF / SO_SNDBUF asked for (the kernel doubles them, capped by net.core.*mem_max); 0: the system's. */
  recvBufferBytes: number;
  sendBufferBytes: number;
  /**
   * SO_REUSEPORT: several listeners (answering workers, `--workers`) bind the same port and the kernel
   * spreads the clients over them. Honoured where the path has it (udpReusePort).
   */
  reusePort?: boolean;
  /**
   * The native path answers repeated questions from C (netio.c "hit path"; the default); false keeps
   * that in JavaScript (answer-templates.ts alone), as before it, for tests and comparisons.
   */
  nativeHits?: boolean;
  /**
   * With nativeHits: a wake whose every datagram a table template answers is answered in C without
   * calling JavaScript (netio.c "Wakes answered in C"; the default). False: C answers only when
   * JavaScript hands it each batch, for tests and comparisons.
   */
  wakesInC?: boolean;
}

export function udpSettings(given: Partial<UdpSettings> = {}): UdpSettings {
  return {
    io: given.io ?? DEFAULTS.udpIo,
    recvBufferBytes: given.recvBufferBytes ?? DEFAULTS.udpRecvBufferBytes,
    sendBufferBytes: given.sendBufferBytes ?? DEFAULTS.udpSendBufferBytes,
    reusePort: given.reusePort ?? false,
    nativeHits: given.nativeHits ?? true,
    wakesInC: given.wakesInC ?? true,
  };
}

/**
 * Whether `path` can share a port through SO_REUSEPORT: the native socket always; node:dgram from Node
 * 22.12 / 23.1 (its `reusePort` option), which an older Node ignores silently, so it is checked here.
 */
export function udpReusePort(path: UdpPath, version = process.versions.node): string | undefined {
  if (path.io === 'native' || nodeHasReusePort(version)) return undefined;
  return `node:dgram has no reusePort before Node 22.12 (this is ${version})`;
}

/** The path a listener uses, and why when `auto` could not have the native one. */
export interface UdpPath {
  io: 'native' | 'dgram';
  reason?: string;
}

/** Which path `io` means on this machine; `native` without the addon is an error that says how to fix it. */
export function resolveUdpIo(io: UdpIo): UdpPath {
  if (io === 'dgram') return { io: 'dgram' };
  const support = batchSocketSupport();
  if (support.available) return { io: 'native' };
  if (io === 'auto') return { io: 'dgram', reason: support.reason };
  throw new MeshdnsError(
    'MESHDNS_UDP_IO',
    `--udp-io native: the native batch socket is not available: ${support.reason}. Install a C compiler ` +
      '(Debian: build-essential) and run npm run build, or pass --udp-io dgram',
  );
}

/** What a UDP listener received: datagrams and the batches they came in (a batch: one recvmmsg on the
 *  native path, one event-loop turn on dgram), datagrams dropped as longer than a native slot. */
export interface UdpStats {
  datagrams: number;
  batches: number;
  tooLong: number;
  /** Answered in C from a template (the native path's hit path), not by JavaScript. */
  inPlace: number;
  /** Of `batches`: answered whole in C, without a call into JavaScript. */
  batchesInC: number;
  /** Sends that found the socket buffer full (native path): the replies waited for it to drain. */
  sendBlocked: number;
}

/** How often a hand-over looks whether the answers it waits for are out. */
const HANDOVER_POLL_MS = 5;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Datagram {
  msg: Buffer;
  address: string;
  port: number;
}

export class UdpListener {
  private socket: dgram.Socket | undefined;
  private native: BatchSocket | undefined;
  private batch: Datagram[] = [];
  /** The dgram path's counts (the native socket keeps its own). */
  private dgramCounts = { datagrams: 0, batches: 0 };
  private inPlace = 0;
  private scheduled = false;
  /** Answers waiting for upstream: a hand-over waits for them before it closes the socket. */
  private waiting = 0;
  private readonly pipeline: Pipeline;
  private readonly allow: ClientAllowList | undefined;
  private readonly watch: ServerLimits | undefined;
  private readonly settings: UdpSettings;
  /** Decided when the listener is made, so a server's UDP path is known before it starts. */
  readonly path: UdpPath;
  /**
   * The native path's hit path: answers kept as templates and written in place into the send batch.
   * Off with an allow list (it reads each source address as text) and while queries are logged one by one.
   */
  private templates: AnswerTemplates | undefined;
  /** Wakes answered in C are armed on the native socket (once a table template is kept). */
  private wakesInC = false;
  /** Takes this listener's late counts out of the pipeline's reads (Pipeline.settleCountsWith). */
  private unsettle: (() => void) | undefined;
  private readonly scan = new QuestionScan();
  private readonly note: AnswerNote = answerNote();

  /** Without an allow list every client is answered; with one, the others get REFUSED (SPEC §10). */
  constructor(pipeline: Pipeline, allow?: ClientAllowList, watch?: ServerLimits, udp?: Partial<UdpSettings>) {
    this.pipeline = pipeline;
    this.allow = allow;
    this.watch = watch;
    this.settings = udpSettings(udp);
    this.path = resolveUdpIo(this.settings.io);
  }

  async start(host: string, port: number): Promise<number> {
    if (this.path.io === 'native') {
      if (this.allow === undefined && this.pipeline.countsInBatches)
        this.templates = this.settings.nativeHits ? AnswerTemplates.withNative() : new AnswerTemplates();
      this.native = await BatchSocket.open({
        host,
        port,
        recvBufferBytes: this.settings.recvBufferBytes,
        sendBufferBytes: this.settings.sendBufferBytes,
        reusePort: this.settings.reusePort,
        onBatch: (batch, socket) => this.answerNative(batch, socket),
        onDrop: () => this.watch?.reached('udp_send_queue', { protocol: 'udp' }),
      });
      return this.native.port;
    }
    const { recvBufferBytes, sendBufferBytes } = this.settings;
    const socket = dgram.createSocket({
      type: isCheckedIPv6(host) ? 'udp6' : 'udp4',
      recvBufferSize: recvBufferBytes > 0 ? recvBufferBytes : undefined,
      sendBufferSize: sendBufferBytes > 0 ? sendBufferBytes : undefined,
      // Node >= 22.12 (udpReusePort); @types/node 20 does not know the option.
      ...(this.settings.reusePort ? { reusePort: true } : {}),
    } as dgram.SocketOptions);
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A send error (e.g. ICMP unreachable surfacing) must not take the listener down.
    socket.on('error', () => {});
    socket.on('message', (msg, rinfo) => this.receive({ msg, address: rinfo.address, port: rinfo.port }));
    return socket.address().port;
  }

  private receive(d: Datagram): void {
    this.batch.push(d);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    const batch = this.batch;
    this.dgramCounts.batches++;
    this.dgramCounts.datagrams += batch.length;
    this.batch = [];
    this.scheduled = false;
    this.answerBatch(batch);
  }

  /** Answers a batch (dgram path): synchronous answers go out now, the others when they resolve. */
  answerBatch(batch: Datagram[]): void {
    for (const d of batch) {
      const out =
        this.allow === undefined || this.allow.allows(d.address)
          ? this.pipeline.answer(d.msg, 'udp')
          : this.refuse(d.msg, d.address, d.port);
      if (out === null) continue;
      if (out instanceof Promise) {
        // The pipeline's promise never rejects; send() has nothing to throw once the socket is gone.
        this.waiting++;
        void out.then((reply) => {
          this.waiting--;
          this.send(reply, d);
        });
      } else {
        this.send(out, d);
      }
    }
  }

  /**
   * Answers a batch (native path). A question answered before from the table or the cache is answered
   * again from its template, in place in the send batch (answer-templates.ts); the others go through the
   * pipeline, their messages lent as views of the batch's slab (`borrowed`): a stage that keeps one past
   * an await copies it. Replies that wait for upstream go out in the turn they resolve.
   */
  private answerNative(batch: RecvBatch, socket: BatchSocket): void {
    const templates = this.templates;
    const { data, lens } = batch;
    const scan = this.scan;
    // The answers C gave in wakes of its own are counted with this batch's.
    if (this.wakesInC) this.takeAnsweredInC(socket, templates as AnswerTemplates);
    // C answers first what its copies of the templates answer; those messages' lengths are then negative.
    if (templates?.native !== undefined) {
      const n = socket.answerInPlace(
        templates.native,
        batch,
        templates.currentGenerations(),
        templates.cacheNow(),
      );
      if (n > 0) {
        this.inPlace += n;
        templates.answeredInPlace(n);
      }
    }
    for (let i = 0; i < batch.count; i++) {
      // Longer than a slot (4 KiB): no DNS query is, and a cut one must not be answered; or answered in C.
      if (lens[i] < 0) continue;
      const at = batch.at(i);
      if (templates !== undefined && batch.port(i) !== 0 && scanQuestion(data, at, lens[i], scan)) {
        const t = templates.find(data, at, scan);
        const size = t === undefined ? -1 : t.size(scan);
        if (t !== undefined && size >= 0) {
          const age = t.age();
          if (age >= 0) {
            const o = socket.claim(size, batch, i);
            if (o >= 0) t.write(socket.outData, o, data, at, scan, age);
            templates.answered(t);
            templates.renew(t);
            continue;
          }
          templates.forget(t);
        }
        this.answerOne(batch, i, socket, templates);
        continue;
      }
      this.answerOne(batch, i, socket, undefined);
    }
    if (templates === undefined) return;
    templates.endBatch(this.countTemplates);
    if (!this.wakesInC && templates.native !== undefined && this.settings.wakesInC)
      this.armWakesInC(socket, templates);
  }

  /** Once a table template is kept (its generation's cell is known), C may answer whole wakes. */
  private armWakesInC(socket: BatchSocket, templates: AnswerTemplates): void {
    const cell = templates.tableCell;
    if (cell === undefined || templates.native === undefined) return;
    this.wakesInC = socket.answerWakesInC(templates.native, cell);
    // Reads of the counts take in what C answered since this side last looked.
    if (this.wakesInC) this.unsettle = this.pipeline.settleCountsWith(() => this.settle());
  }

  /** C's answers since the last look, counted as template answers are (before a batch changes a slot). */
  private takeAnsweredInC(socket: BatchSocket, templates: AnswerTemplates): void {
    socket.takeAnsweredInC((slots, n) => {
      this.inPlace += n;
      templates.answeredInPlace(n, slots);
    });
  }

  /** Counts C's answers now: before the counts are read. */
  private settle(): void {
    const { native, templates } = this;
    if (native === undefined || templates === undefined) return;
    this.takeAnsweredInC(native, templates);
    templates.endBatch(this.countTemplates);
  }

  private readonly countTemplates = (t: AnswerTemplate, n: number): void =>
    this.pipeline.countMany('udp', t.qtype, t.source, t.rcode, n);

  /** Message i through the pipeline; its answer kept as a template when `templates` is given and it may be. */
  private answerOne(
    batch: RecvBatch,
    i: number,
    socket: BatchSocket,
    templates: AnswerTemplates | undefined,
  ): void {
    const msg = batch.message(i) as Buffer;
    const note = templates === undefined ? undefined : this.note;
    if (note !== undefined) {
      note.kind = undefined;
      note.table = undefined;
      note.cache = undefined;
      note.hit = undefined;
    }
    const out =
      this.allow === undefined || this.allow.allows(batch.address(i))
        ? this.pipeline.answer(msg, 'udp', true, note)
        : this.refuse(msg, batch.address(i), batch.port(i));
    // Port 0 cannot be answered: a forged source (as on the dgram path, below).
    if (out === null || batch.port(i) === 0) return;
    if (out instanceof Promise) {
      const peer = batch.peer(i);
      this.waiting++;
      void out.then((reply) => {
        this.waiting--;
        if (reply !== null) socket.replyTo(reply, peer);
      });
      return;
    }
    if (note?.kind !== undefined) templates?.learn(this.scan, msg, out, note);
    socket.reply(out, batch, i);
  }

  private refuse(msg: Buffer, address: string, port: number): Buffer | null {
    this.watch?.reached('allow_from', { client: `${address}:${port}`, protocol: 'udp' });
    return this.pipeline.refuse(msg, 'udp');
  }

  private send(reply: Buffer | null, d: Datagram): void {
    // Port 0 cannot be sent to (dgram throws ERR_SOCKET_BAD_PORT): a forged source, no one to answer.
    if (reply === null || this.socket === undefined || d.port === 0) return;
    this.socket.send(reply, d.port, d.address);
  }

  /** Counted since start, on whichever path answers. */
  stats(): UdpStats {
    if (this.native === undefined) {
      return { ...this.dgramCounts, tooLong: 0, inPlace: 0, batchesInC: 0, sendBlocked: 0 };
    }
    this.settle();
    const { received, batches, tooLong, batchesInC, blocked } = this.native.stats();
    return { datagrams: received, batches, tooLong, inPlace: this.inPlace, batchesInC, sendBlocked: blocked };
  }

  /**
   * Stops taking new queries and closes once those taken are answered, or at `deadline` (Date.now()
   * milliseconds). Native: the socket leaves the SO_REUSEPORT group first, so a process sharing the port
   * gets every new query and the queued ones are still answered here (none lost). node:dgram cannot
   * leave the group: it keeps answering until then, and what arrives in the instant of its close is lost.
   */
  async handOver(deadline: number): Promise<void> {
    this.native?.leave();
    const busy = () => this.waiting > 0 || (this.native?.sending ?? 0) > 0;
    while (busy() && Date.now() < deadline) await sleep(HANDOVER_POLL_MS);
    // node:dgram: what was read in this turn is answered before the socket goes.
    if (this.batch.length > 0) this.flush();
    await this.close();
  }

  async close(): Promise<void> {
    const socket = this.socket;
    const native = this.native;
    // C's last answers are counted before the socket goes.
    this.settle();
    this.unsettle?.();
    this.socket = undefined;
    this.native = undefined;
    await native?.close();
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
