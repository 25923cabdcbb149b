// A UDP socket that receives and sends in batches through the native addon (netio.c): one recvmmsg
// fills a slab allocated once, the handler reads each message in place, and the replies it queues go
// out together by sendmmsg. Node's dgram instead pays a buffer, an rinfo object, a callback and a send
// request per datagram (issue 12: ~43% of the CPU of a table answer).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AddonState, loadAddon, type NetioBinding, type NetioHandle } from './addon.js';
import { ADDR_STRIDE, addressAt, portAt } from './peer.js';
import { type NativeTemplates, S_MAX_BYTES, S_MAX_MESSAGES, S_QUEUED, S_USED } from './templates.js';

/**
 * Module tuning. A slot holds one received datagram: DNS queries are a header, one name (at most 255
 * bytes) and an OPT record, so 4 KiB leaves room for any EDNS option; a longer datagram is dropped.
 */
const SLOT_BYTES = 4096;
/** recvmmsg calls per readiness callback: enough to empty a burst, few enough that timers still run. */
const BATCHES_PER_WAKE = 4;
/** Replies waiting for sendmmsg, by count and bytes; past either (a socket buffer full), one is dropped. */
const OUT_MESSAGES = 256;
const OUT_BYTES = 512 * 1024;
/** libuv's poll events (uv.h: UV_READABLE, UV_WRITABLE). */
const READABLE = 1;
/** 32-bit words per address record. */
const WORDS = ADDR_STRIDE / 4;
const WRITABLE = 2;
/** netio.c's control cells (F_*) and counts (K_*) of the wakes answered in C. */
const F_GATE = 0;
const F_DEFERRED = 1;
const F_QUEUED = 2;
const F_USED = 3;
const F_SENT = 4;
const F_CONTROL = 5;
const K_RECEIVED = 0;
const K_BATCHES = 1;
const K_SENT = 2;
const K_RECV_ERRORS = 3;
const K_COUNTS = 4;
/**
 * Answers C may give before JavaScript takes their counts in: past it, C leaves the next batch to
 * JavaScript, which takes them in first. 64 full batches; 16 KiB.
 */
const DEFERRED_ANSWERS = 4096;

/** A copy of one message's source, for a reply sent after its batch is gone (see RecvBatch.peer). */
export type Peer = Buffer & { readonly __peer: unique symbol };

/**
 * The messages one recvmmsg brought. Its memory is reused for the next batch: a message or address
 * that must outlive the handler's synchronous run is copied first (`Buffer.from(message)`, `peer()`).
 */
export class RecvBatch {
  count = 0;
  readonly data: Buffer;
  readonly lens: Int32Array;
  readonly addrs: Buffer;
  /** The same address records as 32-bit words: a reply copies its 8 words, no Buffer call. */
  readonly addrWords: Int32Array;

  constructor(max: number) {
    this.data = Buffer.allocUnsafeSlow(max * SLOT_BYTES);
    this.lens = new Int32Array(max);
    this.addrWords = new Int32Array((max * ADDR_STRIDE) / 4);
    this.addrs = Buffer.from(this.addrWords.buffer);
  }

  /** Message i's bytes, a view of the slab (no copy); null when it was longer than a slot (cut short). */
  message(i: number): Buffer | null {
    const len = this.lens[i];
    if (len < 0) return null;
    const at = i * SLOT_BYTES;
    return this.data.subarray(at, at + len);
  }

  /** Where message i starts in `data` (its length is `lens[i]`). */
  at(i: number): number {
    return i * SLOT_BYTES;
  }

  port(i: number): number {
    return portAt(this.addrs, i);
  }

  /** The source address as text (as node:dgram gives it), made only when asked. */
  address(i: number): string {
    return addressAt(this.addrs, i);
  }

  peer(i: number): Peer {
    return Buffer.from(this.addrs.subarray(i * ADDR_STRIDE, (i + 1) * ADDR_STRIDE)) as Peer;
  }
}

export interface BatchSocketOptions {
  /** An IP address (a name is looked up once). */
  host: string;
  /** 0: any free port. */
  port: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel doubles and caps them); 0 or absent: the system's. */
  recvBufferBytes?: number;
  sendBufferBytes?: number;
  /** SO_REUSEPORT: several sockets (workers) share the port, the kernel spreads the datagrams. */
  reusePort?: boolean;
  /** Called once per batch received; queue replies with `reply()` before it returns. */
  onBatch(batch: RecvBatch, socket: BatchSocket): void;
  /** Told of each reply dropped because the send queue was full (counted in `stats().dropped` too). */
  onDrop?(): void;
  /**
   * Told of a receive error (counted in `stats().recvErrors` too) with its errno, e.g. ECONNREFUSED on a
   * connected socket. `dead`: libuv stopped polling the socket (it reports a socket error so), so it
   * receives nothing more and should be closed.
   */
  onError?(errno: number, dead: boolean): void;
  /** Smaller slabs than a listener's (an upstream socket lives for a few hundred queries). */
  size?: { batch?: number; outMessages?: number; outBytes?: number };
}

/** A socket with one peer (`BatchSocket.connect`): an upstream server, for the forwarder's queries. */
export interface ConnectedSocketOptions {
  /** The peer: an IP address and port. */
  host: string;
  port: number;
  onBatch: BatchSocketOptions['onBatch'];
  onError: NonNullable<BatchSocketOptions['onError']>;
}

/**
 * A connected socket's slabs: 8 replies per recvmmsg (32 KiB) and 32 queries or 16 KiB waiting to be
 * sent. An upstream socket is retired after a few hundred queries: with a listener's 768 KiB each time,
 * the collector's time in a profile of misses nearly tripled.
 */
const CONNECTED_SIZE = { batch: 8, outMessages: 32, outBytes: 16 * 1024 };
/** An address record of length 0: the connected peer (netio.c `send`). */
const CONNECTED_PEER = Buffer.alloc(ADDR_STRIDE) as Peer;

export interface BatchSocketStats {
  received: number;
  batches: number;
  /** Longer than a slot, dropped. */
  tooLong: number;
  /** Handed to sendmmsg (the kernel's refusals included, counted in `sendErrors`). */
  sent: number;
  /** Replies dropped because the send queue was full while the socket buffer was. */
  dropped: number;
  /** Sends that stopped on a full socket buffer (EAGAIN), C's included: the rest waited for writability. */
  blocked: number;
  recvErrors: number;
  /** Of `batches`: answered whole in C, without a call into JavaScript (`answerWakesInC`). */
  batchesInC: number;
}

/** What C and this side share for the wakes answered in C (netio.c "Wakes answered in C"). */
interface WakesInC {
  readonly control: Int32Array;
  readonly counts: Float64Array;
  readonly deferred: Int32Array;
}

/** Whether the native batch socket is there, or why not. */
export function batchSocketSupport(): { available: true } | { available: false; reason: string } {
  const s: AddonState = loadAddon();
  return s.binding ? { available: true } : { available: false, reason: s.reason };
}

export class BatchSocket {
  readonly port: number;
  private readonly binding: NetioBinding;
  private readonly handle: NetioHandle;
  private readonly onBatch: BatchSocketOptions['onBatch'];
  private readonly onDrop: (() => void) | undefined;
  private readonly onError: BatchSocketOptions['onError'];
  private readonly batch: RecvBatch;
  /** Messages one recvmmsg reads; the send queue's size in messages and bytes. */
  private readonly maxBatch: number;
  private readonly outMessages: number;
  private readonly outBytes: number;
  /** The send slab: claim() hands out room in it for a reply written in place. */
  readonly outData: Buffer;
  private readonly outOffs: Int32Array;
  private readonly outLens: Int32Array;
  private readonly outAddrWords: Int32Array;
  private readonly outAddrs: Buffer;
  /** Replies queued, of which [0, sentUpTo) are gone; bytes of outData in use. */
  private queued = 0;
  private sentUpTo = 0;
  private used = 0;
  /** The last send stopped on a full socket buffer: the rest waits for writability. */
  private blocked = false;
  private draining = false;
  private flushScheduled = false;
  private closed = false;
  /** This side's counts; C's, of the batches it answers whole, are added in stats(). */
  private readonly counts: Omit<BatchSocketStats, 'batchesInC'> = {
    received: 0,
    batches: 0,
    tooLong: 0,
    sent: 0,
    dropped: 0,
    blocked: 0,
    recvErrors: 0,
  };
  private wakes: WakesInC | undefined;

  /**
   * A socket on a port the kernel picks at random (RFC 5452), connected to one peer: it receives only that
   * peer's datagrams, `send()` needs no address, and ICMP port unreachable comes back through `onError`.
   * Throws when the addon is missing or has no `connect` (an addon built before it).
   */
  static connect(opts: ConnectedSocketOptions): BatchSocket {
    const support = BatchSocket.connectSupport();
    if (!support.available) throw new Error(`native connected socket unavailable: ${support.reason}`);
    const binding = loadAddon().binding!;
    const family = isIP(opts.host);
    if (family === 0) throw new Error(`not an IP address: ${opts.host}`);
    const socket = new BatchSocket(binding, family === 6 ? '::' : '0.0.0.0', {
      host: opts.host,
      port: 0,
      onBatch: opts.onBatch,
      onError: opts.onError,
      size: CONNECTED_SIZE,
    });
    try {
      binding.connect(socket.handle, opts.host, opts.port);
    } catch (err) {
      void socket.close();
      throw err;
    }
    return socket;
  }

  /** Whether `BatchSocket.connect` works here (the addon is loaded and has it), or why not. */
  static connectSupport(): { available: true } | { available: false; reason: string } {
    const state = loadAddon();
    if (state.binding === undefined) return { available: false, reason: state.reason };
    if (typeof state.binding.connect !== 'function') {
      return { available: false, reason: `${state.file} has no connect: rebuild it (npm run build)` };
    }
    return { available: true };
  }

  /** Binds the socket; throws what bind(2) and setsockopt(2) said (e.g. EADDRINUSE), as an Error. */
  static async open(opts: BatchSocketOptions): Promise<BatchSocket> {
    const state = loadAddon();
    if (state.binding === undefined) throw new Error(`native batch socket unavailable: ${state.reason}`);
    const host = isIP(opts.host) !== 0 ? opts.host : (await lookup(opts.host)).address;
    return new BatchSocket(state.binding, host, opts);
  }

  private constructor(binding: NetioBinding, host: string, opts: BatchSocketOptions) {
    this.binding = binding;
    this.onBatch = opts.onBatch;
    this.onDrop = opts.onDrop;
    this.onError = opts.onError;
    const size = opts.size ?? {};
    this.maxBatch = Math.min(binding.maxBatch, size.batch ?? binding.maxBatch);
    this.outMessages = size.outMessages ?? OUT_MESSAGES;
    this.outBytes = size.outBytes ?? OUT_BYTES;
    this.outData = Buffer.allocUnsafeSlow(this.outBytes);
    this.outOffs = new Int32Array(this.outMessages);
    this.outLens = new Int32Array(this.outMessages);
    this.outAddrWords = new Int32Array((this.outMessages * ADDR_STRIDE) / 4);
    this.outAddrs = Buffer.from(this.outAddrWords.buffer);
    this.batch = new RecvBatch(this.maxBatch);
    const [handle, port] = binding.open(
      host,
      opts.port,
      opts.recvBufferBytes ?? 0,
      opts.sendBufferBytes ?? 0,
      opts.reusePort ?? false,
      (events, pending, adopt) => this.onEvent(events, pending, adopt),
    );
    this.handle = handle;
    this.port = port;
  }

  /** Queues a reply to the source of message `i` of the batch being handled; sent when the batch ends. */
  reply(msg: Buffer, batch: RecvBatch, i: number): void {
    const q = this.enqueue(msg.length);
    if (q < 0) return;
    // TypedArray#set is a memcpy; Buffer#copy adds argument checks per call.
    this.outData.set(msg, this.outOffs[q]);
    this.peerOf(q, batch, i);
  }

  /**
   * Room for a reply of `len` bytes to the source of message `i`, written in place by the caller before
   * the batch handler returns: its offset in `outData`, or -1 when the reply is dropped (queue full).
   */
  claim(len: number, batch: RecvBatch, i: number): number {
    const q = this.enqueue(len);
    if (q < 0) return -1;
    this.peerOf(q, batch, i);
    return this.outOffs[q];
  }

  /**
   * Answers what `store`'s templates answer of `batch` in C, in place in the send slab (sent with the
   * batch's other replies); each answered message's length becomes -2 (negative: skip it), and
   * `store.hits` holds the slot of each template used. Returns how many were answered.
   */
  answerInPlace(
    store: NativeTemplates,
    batch: RecvBatch,
    generations: { table: number; cache: number },
    now: number,
  ): number {
    if (this.closed || batch.count === 0) return 0;
    const state = store.state;
    state[S_QUEUED] = this.queued;
    state[S_USED] = this.used;
    state[S_MAX_MESSAGES] = this.outMessages;
    state[S_MAX_BYTES] = this.outBytes;
    const n = this.binding.answer(
      store.handle,
      batch.data,
      SLOT_BYTES,
      batch.lens,
      batch.addrs,
      batch.count,
      this.outData,
      this.outOffs,
      this.outLens,
      this.outAddrs,
      state,
      store.hits,
      generations.table,
      generations.cache,
      now,
    );
    this.queued = state[S_QUEUED];
    this.used = state[S_USED];
    return n;
  }

  /**
   * From now on, a wake whose every datagram one of `store`'s table templates answers (a generation of
   * `tableGeneration[0]`) is answered in C, with no call into JavaScript; see netio.c "Wakes answered in
   * C". The slot of each template C answered from waits for `takeAnsweredInC`. False where the addon has
   * no such path (built before it) or the socket is closed; once per socket.
   */
  answerWakesInC(store: NativeTemplates, tableGeneration: Int32Array): boolean {
    if (this.closed || this.wakes !== undefined || typeof this.binding.fast !== 'function') return false;
    // ArrayBuffers of their own: their memory never moves, and C keeps pointers into it.
    const wakes: WakesInC = {
      control: new Int32Array(new ArrayBuffer(F_CONTROL * 4)),
      counts: new Float64Array(new ArrayBuffer(K_COUNTS * 8)),
      deferred: new Int32Array(new ArrayBuffer(DEFERRED_ANSWERS * 4)),
    };
    const b = this.batch;
    this.binding.fast(
      this.handle,
      store.handle,
      b.data,
      SLOT_BYTES,
      b.lens,
      b.addrs,
      this.maxBatch,
      this.outData,
      this.outOffs,
      this.outLens,
      this.outAddrs,
      this.outMessages,
      this.outBytes,
      tableGeneration,
      wakes.control,
      wakes.counts,
      wakes.deferred,
    );
    this.wakes = wakes;
    this.gate();
    return true;
  }

  /** The slots of the templates C answered from since the last call, one per answer, handed to `use`. */
  takeAnsweredInC(use: (slots: Int32Array, count: number) => void): void {
    const control = this.wakes?.control;
    if (control === undefined || control[F_DEFERRED] === 0) return;
    const n = control[F_DEFERRED];
    control[F_DEFERRED] = 0;
    use((this.wakes as WakesInC).deferred, n);
  }

  /** C may answer a wake only while the send queue is empty: it writes its replies from the slab's start. */
  private gate(): void {
    const wakes = this.wakes;
    if (wakes !== undefined)
      wakes.control[F_GATE] = !this.closed && !this.blocked && this.queued === 0 ? 1 : 0;
  }

  private peerOf(q: number, batch: RecvBatch, i: number): void {
    const from = i * WORDS;
    const to = q * WORDS;
    const src = batch.addrWords;
    const dst = this.outAddrWords;
    for (let k = 0; k < WORDS; k++) dst[to + k] = src[from + k];
  }

  /** A connected socket's datagram to its peer; sent within this turn of the event loop. */
  send(msg: Buffer): void {
    this.replyTo(msg, CONNECTED_PEER);
  }

  /** Queues a reply to a peer kept from an earlier batch; sent within this turn of the event loop. */
  replyTo(msg: Buffer, peer: Peer): void {
    const q = this.enqueue(msg.length);
    if (q >= 0) {
      this.outData.set(msg, this.outOffs[q]);
      this.outAddrs.set(peer, q * ADDR_STRIDE);
    }
    if (this.draining || this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  stats(): BatchSocketStats {
    const c = this.wakes?.counts;
    if (c === undefined) return { ...this.counts, batchesInC: 0 };
    const own = this.counts;
    return {
      ...own,
      received: own.received + c[K_RECEIVED],
      batches: own.batches + c[K_BATCHES],
      sent: own.sent + c[K_SENT],
      recvErrors: own.recvErrors + c[K_RECV_ERRORS],
      batchesInC: c[K_BATCHES],
    };
  }

  /** The kernel's SO_RCVBUF and SO_SNDBUF (doubled from what was asked), and sends it refused. */
  info(): { recvBufferBytes: number; sendBufferBytes: number; sendErrors: number } {
    const [recvBufferBytes, sendBufferBytes, sendErrors] = this.binding.info(this.handle);
    return { recvBufferBytes, sendBufferBytes, sendErrors };
  }

  /**
   * Takes the socket out of its SO_REUSEPORT group (netio.c `leave`): new datagrams go to the group's
   * other sockets, and those queued here are read and handed to `onBatch` now, so none is lost. Replies
   * still go out; `close()` once they have (see `sending`).
   */
  leave(): void {
    if (this.closed) return;
    this.binding.leave(this.handle);
    // The queue is finite once nothing new arrives: each round reads up to maxBatch of it.
    while (!this.closed && this.drain() === this.maxBatch * BATCHES_PER_WAKE) {}
  }

  /** Replies queued and not yet handed to the kernel. */
  get sending(): number {
    return this.queued - this.sentUpTo;
  }

  /** Closes the socket at once (the port is free on return); queued replies are discarded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gate();
    this.binding.close(this.handle);
  }

  /**
   * libuv's events for the socket. Where C answered part of a wake: `pending` datagrams it received and
   * left in the batch slab (handled first), and `adopt`: the send queue C could not finish (the socket
   * buffer was full), which this side takes over.
   */
  private onEvent(events: number, pending = 0, adopt = 0): void {
    if (this.closed) return;
    // A negative value is a libuv error for the fd: libuv has stopped polling it (a socket error, e.g. a
    // connected socket's ICMP port unreachable). What the kernel has to say is read once more.
    if (events < 0) {
      this.counts.recvErrors++;
      const n = this.binding.recv(
        this.handle,
        this.batch.data,
        SLOT_BYTES,
        this.batch.lens,
        this.batch.addrs,
        1,
      );
      this.onError?.(n < 0 ? -n : -events, true);
      return;
    }
    if (adopt !== 0) this.adopt();
    if (pending > 0) {
      this.take(pending);
      if (pending < this.maxBatch) return;
    }
    if (events & WRITABLE && this.blocked) {
      this.blocked = false;
      this.binding.watch(this.handle, false);
      this.flush();
    }
    if (events & READABLE) this.drain();
  }

  /** Reads up to BATCHES_PER_WAKE batches; returns the datagrams read. */
  private drain(): number {
    const { binding, batch } = this;
    const max = this.maxBatch;
    let read = 0;
    for (let turn = 0; turn < BATCHES_PER_WAKE && !this.closed; turn++) {
      const n = binding.recv(this.handle, batch.data, SLOT_BYTES, batch.lens, batch.addrs, max);
      if (n <= 0) {
        if (n < 0) {
          this.counts.recvErrors++;
          this.onError?.(-n, false);
        }
        return read;
      }
      read += n;
      this.take(n);
      // Fewer than asked: the socket is empty (recvmmsg with MSG_DONTWAIT stops at EAGAIN).
      if (n < max) return read;
    }
    return read;
  }

  /** The batch slab's `n` datagrams, just received: counted, handed to onBatch, and the replies sent. */
  private take(n: number): void {
    const batch = this.batch;
    batch.count = n;
    this.counts.batches++;
    this.counts.received += n;
    for (let i = 0; i < n; i++) if (batch.lens[i] < 0) this.counts.tooLong++;
    this.draining = true;
    try {
      this.onBatch(batch, this);
    } finally {
      this.draining = false;
    }
    this.flush();
  }

  /** The replies C queued and could not all send: the rest goes when the socket is writable. */
  private adopt(): void {
    const control = (this.wakes as WakesInC).control;
    this.queued = control[F_QUEUED];
    this.used = control[F_USED];
    this.sentUpTo = control[F_SENT];
    this.waitForRoom();
  }

  /** The socket buffer is full (counted): the queue's rest goes when libuv says it is writable again. */
  private waitForRoom(): void {
    this.blocked = true;
    this.counts.blocked++;
    this.gate();
    this.binding.watch(this.handle, true);
  }

  /** Room for `len` bytes in the send slab: the reply's index (the caller writes it and its address), or -1 if dropped. */
  private enqueue(len: number): number {
    if (this.closed) return -1;
    if (this.queued === this.outMessages || this.used + len > this.outBytes) {
      this.flush();
      if (this.queued === this.outMessages || this.used + len > this.outBytes) {
        this.counts.dropped++;
        this.onDrop?.();
        return -1;
      }
    }
    const q = this.queued;
    this.outOffs[q] = this.used;
    this.outLens[q] = len;
    this.used += len;
    this.queued = q + 1;
    if (q === 0) this.gate();
    return q;
  }

  private flush(): void {
    if (this.closed || this.blocked || this.queued === this.sentUpTo) return;
    const { outData, outOffs, outLens, outAddrs } = this;
    const done = this.binding.send(
      this.handle,
      outData,
      outOffs,
      outLens,
      outAddrs,
      this.sentUpTo,
      this.queued,
    );
    this.counts.sent += done - this.sentUpTo;
    if (done === this.queued) {
      this.queued = 0;
      this.sentUpTo = 0;
      this.used = 0;
      this.gate();
      return;
    }
    this.sentUpTo = done;
    this.waitForRoom();
  }
}
