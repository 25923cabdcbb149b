// The native batch socket (src/netio/, issue 12 item 1) on real loopback sockets: its build, batches,
// IPv4 and IPv6 peers, a partial sendmmsg, socket options, closing while a batch is being read, and a
// worker thread that dies with a socket of a SO_REUSEPORT group.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import dnsPacket from 'dns-packet';
import { QuestionScan, scanQuestion } from '../../src/dns/index.js';
import { loadAddon, type NetioBinding } from '../../src/netio/addon.js';
import { buildAddon, defaultBuild, nodeIncludeDir } from '../../src/netio/build.js';
import { BatchSocket, batchSocketSupport, type Peer, type RecvBatch } from '../../src/netio/index.js';
import { NativeTemplates } from '../../src/netio/templates.js';
import { encodeQuery } from '../helpers/dns-client.js';

const native = batchSocketSupport();
const NO_ADDON = native.available ? undefined : `native batch socket unavailable: ${native.reason}`;

/** A dgram client on `host` (its replies collected), closed by the file's `after`. */
async function client(
  host = '127.0.0.1',
): Promise<{ socket: dgram.Socket; port: number; replies: Buffer[] }> {
  const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 });
  const replies: Buffer[] = [];
  socket.on('message', (m) => replies.push(m));
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, replies };
}

/** Waits (polling, at most `ms`) until `done()` holds; fails with `what` if it never does. */
async function until(done: () => boolean, what: string, ms = 3000): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    if (waited >= ms) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A socket answering each message with "re:" + the message, recording the size of every batch. */
async function echo(host: string, opts: { reusePort?: boolean; port?: number } = {}) {
  const sizes: number[] = [];
  const sources: string[] = [];
  const socket = await BatchSocket.open({
    host,
    port: opts.port ?? 0,
    reusePort: opts.reusePort,
    recvBufferBytes: 1 << 20,
    onBatch(batch: RecvBatch, s: BatchSocket) {
      sizes.push(batch.count);
      for (let i = 0; i < batch.count; i++) {
        const msg = batch.message(i);
        sources.push(`${batch.address(i)}:${batch.port(i)}`);
        if (msg !== null) s.reply(Buffer.concat([Buffer.from('re:'), msg]), batch, i);
      }
    },
  });
  after(() => socket.close());
  return { socket, sizes, sources };
}

describe('netio: the build', () => {
  it('the addon loads wherever cc and the running Node headers are (CI installs both)', (t) => {
    const cc = spawnSync(process.env.CC || 'cc', ['--version']);
    const include = nodeIncludeDir();
    const headers = typeof include === 'string' && existsSync(join(include, 'node_api.h'));
    if (process.platform !== 'linux' || cc.error !== undefined || !headers) return t.skip('no cc or headers');
    assert.deepEqual(native, { available: true });
  });

  it('builds against the running Node headers into the file asked, and that file loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdns-netio-'));
    try {
      const out = join(dir, 'netio.node');
      const result = buildAddon({ ...defaultBuild(), out });
      if (!result.built) return assert.ok(NO_ADDON, `the addon builds here: ${result.reason}`);
      const loaded = createRequire(import.meta.url)(out) as { maxBatch: number };
      assert.equal(loaded.maxBatch, 64);
      assert.deepEqual(buildAddon({ ...defaultBuild(), out }), { built: true, out, skipped: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("finds the running Node's own headers: under its prefix, or beside the npm `node` package's binary", () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdns-netio-'));
    try {
      // The npm `node` package's layout: bin/node, and the release in node_modules/node-<platform>-<arch>.
      const release = join(
        dir,
        'node_modules',
        `node-${process.platform}-${process.arch}`,
        'include',
        'node',
      );
      mkdirSync(release, { recursive: true });
      writeFileSync(
        join(release, 'node_version.h'),
        '#define NODE_MAJOR_VERSION 24\n#define NODE_MINOR_VERSION 21\n#define NODE_PATCH_VERSION 0\n',
      );
      const bin = join(dir, 'bin', 'node');
      assert.equal(nodeIncludeDir(bin, '24.21.0'), release);
      // Headers of another version are not taken for this one.
      const other = nodeIncludeDir(bin, '24.22.0');
      assert.match(typeof other === 'string' ? other : other.reason, /no headers of Node 24\.22\.0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a compiler: not built, says which compiler failed, throws nothing, leaves no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdns-netio-'));
    try {
      const out = join(dir, 'netio.node');
      const result = buildAddon({ ...defaultBuild(), cc: '/nonexistent/cc', out });
      assert.equal(result.built, false);
      assert.match(!result.built ? result.reason : '', /\/nonexistent\/cc/);
      assert.equal(existsSync(out), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('netio: batches', { skip: NO_ADDON }, () => {
  it('a burst arrives in batches of up to 64, each message answered to its sender', async () => {
    const { socket, sizes } = await echo('127.0.0.1');
    const c = await client();
    const N = 200;
    for (let i = 0; i < N; i++) c.socket.send(`q${i}`, socket.port, '127.0.0.1');
    await until(() => c.replies.length === N, `${N} replies`);
    assert.deepEqual(
      c.replies.map((r) => r.toString()).sort(),
      Array.from({ length: N }, (_, i) => `re:q${i}`).sort(),
    );
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      N,
    );
    assert.ok(Math.max(...sizes) > 1, `batches of ${sizes.join(', ')}: more than one message per recvmmsg`);
    assert.ok(Math.max(...sizes) <= 64);
    assert.deepEqual(
      { ...socket.stats(), batches: 0 },
      {
        received: N,
        batches: 0,
        tooLong: 0,
        sent: N,
        dropped: 0,
        blocked: 0,
        recvErrors: 0,
        batchesInC: 0,
      },
    );
  });

  it('a datagram longer than a slot (4 KiB) is dropped and counted; the rest of its batch is answered', async () => {
    const { socket } = await echo('127.0.0.1');
    const c = await client();
    c.socket.send(Buffer.alloc(5000, 1), socket.port, '127.0.0.1');
    c.socket.send('after', socket.port, '127.0.0.1');
    await until(() => c.replies.length === 1, 'the short message answered');
    assert.equal(c.replies[0].toString(), 're:after');
    assert.equal(socket.stats().tooLong, 1);
  });
});

describe('netio: IPv4 and IPv6 peers', { skip: NO_ADDON }, () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`on ${host}: the source address and port read as node:dgram gives them, and the reply reaches it`, async () => {
      const { socket, sources } = await echo(host);
      const c = await client(host);
      c.socket.send('hello', socket.port, host);
      await until(() => c.replies.length === 1, 'the reply');
      assert.equal(c.replies[0].toString(), 're:hello');
      assert.deepEqual(sources, [`${host}:${c.port}`]);
    });
  }

  it('on [::] (dual stack): an IPv4 client reads as ::ffff:a.b.c.d, as node:dgram has it', async () => {
    const { socket, sources } = await echo('::');
    const seen = dgram.createSocket('udp6');
    after(() => new Promise<void>((resolve) => seen.close(() => resolve())));
    const dgramSource = new Promise<string>((resolve) => seen.once('message', (_, r) => resolve(r.address)));
    await new Promise<void>((resolve) => seen.bind(0, '::', () => resolve()));
    const c = await client('127.0.0.1');
    c.socket.send('v4', socket.port, '127.0.0.1');
    c.socket.send('v4', seen.address().port, '127.0.0.1');
    await until(() => c.replies.length === 1, 'the reply over v4');
    assert.deepEqual(sources, [`${await dgramSource}:${c.port}`]);
    assert.equal(sources[0], `::ffff:127.0.0.1:${c.port}`);
  });
});

describe('netio: sending', { skip: NO_ADDON }, () => {
  it('a partial sendmmsg (one message refused by the kernel) is retried past it: the others all go', async () => {
    // An IPv6 peer given to an IPv4 socket: the kernel refuses that one message (EAFNOSUPPORT) and
    // sendmmsg returns the count sent before it.
    const peers: { peer: Peer; text: string }[] = [];
    const v4 = await BatchSocket.open({
      host: '127.0.0.1',
      port: 0,
      onBatch(batch) {
        for (let i = 0; i < batch.count; i++) {
          peers.push({ peer: batch.peer(i), text: batch.message(i)!.toString() });
        }
      },
    });
    after(() => v4.close());
    let v6Peer: Peer | undefined;
    const v6 = await BatchSocket.open({
      host: '::1',
      port: 0,
      onBatch(batch) {
        v6Peer = batch.peer(0);
      },
    });
    after(() => v6.close());
    const c4 = await client('127.0.0.1');
    const c6 = await client('::1');
    for (const text of ['g1', 'g2', 'g3', 'g4']) c4.socket.send(text, v4.port, '127.0.0.1');
    c6.socket.send('v6', v6.port, '::1');
    await until(() => peers.length === 4 && v6Peer !== undefined, 'the five queries');
    // Queued in one turn: one flush, so one sendmmsg carries all five.
    for (const [k, p] of peers.entries()) {
      v4.replyTo(Buffer.from(`re:${p.text}`), p.peer);
      if (k === 1) v4.replyTo(Buffer.from('refused'), v6Peer!);
    }
    await until(() => c4.replies.length === 4, 'the four good replies');
    assert.deepEqual(c4.replies.map((r) => r.toString()).sort(), ['re:g1', 're:g2', 're:g3', 're:g4']);
    assert.equal(v4.info().sendErrors, 1);
    assert.equal(v4.stats().sent, 5);
    assert.equal(c6.replies.length, 0);
  });

  it('SO_RCVBUF and SO_SNDBUF are set as asked (the kernel doubles them)', async () => {
    const s = await BatchSocket.open({
      host: '127.0.0.1',
      port: 0,
      recvBufferBytes: 65536,
      sendBufferBytes: 32768,
      onBatch() {},
    });
    try {
      const { recvBufferBytes, sendBufferBytes } = s.info();
      assert.deepEqual(
        { recvBufferBytes, sendBufferBytes },
        { recvBufferBytes: 131072, sendBufferBytes: 65536 },
      );
    } finally {
      await s.close();
    }
  });

  it('SO_REUSEPORT: two sockets share a port; without it a second bind fails with EADDRINUSE', async () => {
    const a = await echo('127.0.0.1', { reusePort: true });
    const b = await echo('127.0.0.1', { reusePort: true, port: a.socket.port });
    assert.equal(b.socket.port, a.socket.port);
    await assert.rejects(
      BatchSocket.open({ host: '127.0.0.1', port: a.socket.port, onBatch() {} }),
      (err: Error & { errno?: number }) =>
        /bind: Address already in use/.test(err.message) && err.errno === 98,
    );
  });
});

describe('netio: a socket connected to one peer (the upstream path)', { skip: NO_ADDON }, () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`on ${host}: a turn's sends leave from one random port; only the peer's replies come in`, async () => {
      const peer = await client(host);
      const sources = new Set<number>();
      // The peer echoes each datagram back to its source.
      peer.socket.on('message', (m, from) => {
        sources.add(from.port);
        peer.socket.send(Buffer.concat([Buffer.from('re:'), m]), from.port, from.address);
      });
      const got: string[] = [];
      const errors: number[] = [];
      const s = BatchSocket.connect({
        host,
        port: peer.port,
        onBatch(batch) {
          for (let i = 0; i < batch.count; i++) got.push(batch.message(i)!.toString());
        },
        onError: (errno) => errors.push(errno),
      });
      after(() => s.close());
      for (let i = 0; i < 20; i++) s.send(Buffer.from(`q${i}`));
      await until(() => got.length === 20, '20 echoes');
      const asked = Array.from({ length: 20 }, (_, i) => `re:q${i}`);
      assert.deepEqual([...got].sort(), asked.sort());
      assert.equal(sources.size, 1, 'every send from the one connected socket');
      // A stranger writing to the connected socket's port: the kernel does not deliver it.
      const stranger = await client(host);
      stranger.socket.send('stranger', [...sources][0]!, host);
      s.send(Buffer.from('last'));
      await until(() => got.includes('re:last'), 'the last echo');
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(!got.includes('stranger'), 'a datagram from another port is not delivered');
      assert.deepEqual(errors, []);
    });
  }

  it('a peer with nothing listening: the send fails the socket with ECONNREFUSED at once', async () => {
    // A port that was just free: bound, read, closed.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const errors: [number, boolean][] = [];
    const s = BatchSocket.connect({
      host: '127.0.0.1',
      port,
      onBatch() {},
      onError: (errno, dead) => errors.push([errno, dead]),
    });
    after(() => s.close());
    s.send(Buffer.from('anyone?'));
    await until(() => errors.length > 0, 'an error');
    assert.equal(errors[0]![0], 111, 'ECONNREFUSED');
  });
});

describe('netio: closing while reading', { skip: NO_ADDON }, () => {
  it('closed by its handler mid-batch: the rest is not handled, replies are dropped, the port is free at once', async () => {
    let handled = 0;
    let batches = 0;
    const socket = await BatchSocket.open({
      host: '127.0.0.1',
      port: 0,
      recvBufferBytes: 1 << 20,
      onBatch(batch, s) {
        batches++;
        // The first message closes the socket; the batch's others are left unhandled.
        handled++;
        void s.close();
        // After close: queued nowhere, thrown nowhere.
        s.reply(Buffer.from('late'), batch, 0);
      },
    });
    after(() => socket.close());
    const c = await client();
    for (let i = 0; i < 50; i++) c.socket.send(`q${i}`, socket.port, '127.0.0.1');
    await until(() => handled > 0, 'the first message handled');
    // Another turn or two: nothing more is read from the closed socket.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual({ handled, batches, replies: c.replies.length }, { handled: 1, batches: 1, replies: 0 });
    // The fd is closed on close(): the same port binds again without SO_REUSEPORT.
    const again = await echo('127.0.0.1', { port: socket.port });
    assert.equal(again.socket.port, socket.port);
  });

  it('an answer that comes after close is dropped without error', async () => {
    let peer: Peer | undefined;
    const socket = await BatchSocket.open({
      host: '127.0.0.1',
      port: 0,
      onBatch(batch) {
        peer = batch.peer(0);
      },
    });
    const c = await client();
    c.socket.send('q', socket.port, '127.0.0.1');
    await until(() => peer !== undefined, 'the query');
    await socket.close();
    assert.doesNotThrow(() => socket.replyTo(Buffer.from('late'), peer!));
    await socket.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.replies.length, 0);
  });
});

describe('netio: a worker thread that dies', { skip: NO_ADDON }, () => {
  it('takes its SO_REUSEPORT socket with it: the sockets left in the group get every client', async () => {
    const main = await echo('127.0.0.1', { reusePort: true });
    // A worker with a socket of the group, ended by terminate(): no close() runs, only the addon's
    // cleanup at the worker's exit. A socket left open would take its share of the clients into a void.
    const url = new URL('../../src/netio/index.js', import.meta.url).href;
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(workerData.url).then(async ({ BatchSocket }) => {
         await BatchSocket.open({ host: '127.0.0.1', port: workerData.port, reusePort: true,
           onBatch(batch, s) { for (let i = 0; i < batch.count; i++) s.reply(Buffer.from('worker'), batch, i); } });
         parentPort.postMessage('open');
       });`,
      { eval: true, workerData: { url, port: main.socket.port } },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    /** One datagram from each of `n` fresh client sockets; the replies' texts. */
    const round = async (n: number) => {
      const clients = await Promise.all(Array.from({ length: n }, () => client()));
      for (const c of clients) c.socket.send('q', main.socket.port, '127.0.0.1');
      await until(() => clients.every((c) => c.replies.length > 0), `${n} replies`);
      return clients.map((c) => c.replies[0]!.toString());
    };
    const shared = await round(40);
    assert.ok(shared.includes('worker') && shared.includes('re:q'), 'both sockets answer while both live');
    await worker.terminate();
    const left = await round(40);
    assert.deepEqual(new Set(left), new Set(['re:q']), 'every client answered by the socket left');
  });
});

describe('netio: the template store (the hit path in C)', { skip: NO_ADDON }, () => {
  const binding = loadAddon().binding as NetioBinding;
  const numbers = (runAt = 0, runCount = 0, stride = 0) =>
    Int32Array.from([1, 1, 1, 0, 0x8180, 0, runAt, runCount, stride, 0, 0]);
  const name = Buffer.from([1, 0x61, 0]);
  const body = Buffer.alloc(12 + name.length + 4 + 16);

  it('refuses a slot past the store and a template whose patched places lie outside its body', () => {
    const store = binding.templates(4, 2);
    const none = new Int32Array(0);
    binding.put(store, 7, name, body, none, none, numbers(), 0, 0);
    assert.throws(() => binding.put(store, 8, name, body, none, none, numbers(), 0, 0), /slot out of range/);
    assert.throws(
      () => binding.put(store, 0, name, body, none, none, numbers(20, 2, 16), 0, 0),
      /does not hold together/,
    );
    assert.throws(
      () =>
        binding.put(
          store,
          0,
          name,
          body,
          Int32Array.from([body.length - 2]),
          Int32Array.from([60]),
          numbers(),
          0,
          0,
        ),
      /does not hold together/,
    );
    assert.throws(() => binding.templates(3, 2), /power of two/);
    binding.drop(store, 7);
  });

  it('refuses an answer() whose arrays are smaller than the batch it names', () => {
    const store = binding.templates(4, 2);
    const small = new Int32Array(1);
    const args = [Buffer.alloc(4096 * 2), 4096, new Int32Array(2), Buffer.alloc(64), 2] as const;
    const out = [Buffer.alloc(1024), new Int32Array(4), new Int32Array(4), Buffer.alloc(128)] as const;
    const state = Int32Array.from([0, 0, 4, 1024]);
    assert.equal(binding.answer(store, ...args, ...out, state, new Int32Array(2), 0, 0, 0), 0);
    assert.throws(() => binding.answer(store, ...args, ...out, state, small, 0, 0, 0), /too small/);
    assert.throws(
      () =>
        binding.answer(store, ...args, ...out, Int32Array.from([0, 0, 8, 1024]), new Int32Array(2), 0, 0, 0),
      /too small/,
    );
  });
});

describe('netio: wakes answered in C', { skip: NO_ADDON }, () => {
  /** A store holding one table template that answers `a.example A` (generation 1) in `slot`. */
  function storeFor(q: Buffer): { store: NativeTemplates; slot: number } {
    const store = NativeTemplates.create(16, 2) as NativeTemplates;
    const scan = new QuestionScan();
    assert.ok(scanQuestion(q, 0, q.length, scan));
    const body = dnsPacket.encode({
      type: 'response',
      id: 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: [{ name: 'a.example', type: 'A' }],
      answers: [{ name: 'a.example', type: 'A', ttl: 30, data: '192.0.2.1' }],
    });
    const slot = (scan.hash & 15) * 2;
    const none = new Int32Array(0);
    // The name as templates keep it: lower-case wire bytes.
    const name = Buffer.from(q.subarray(12, scan.nameEnd).toString('latin1').toLowerCase(), 'latin1');
    const template = { hash: scan.hash, name, qtype: 1, qclass: 1, do: false };
    const shape = { runAt: 0, runCount: 0, stride: 0, ttlOffsets: none, ttls: none };
    const flags = body.readUInt16BE(2);
    store.put(slot, { ...template, ...shape, body, flags, arcount: 0 }, { cache: false, generation: 1 });
    return { store, slot };
  }

  it('a wake of table hits is answered in C without onBatch; any other datagram, or a newer table, goes to onBatch', async () => {
    const { socket, sizes } = await echo('127.0.0.1');
    const q = encodeQuery('A.example', 'A', { id: 7 });
    const { store, slot } = storeFor(q);
    const generation = new Int32Array(new ArrayBuffer(4));
    generation[0] = 1;
    assert.ok(socket.answerWakesInC(store, generation));
    assert.equal(socket.answerWakesInC(store, generation), false, 'once per socket');
    const c = await client();
    c.socket.send(q, socket.port, '127.0.0.1');
    await until(() => c.replies.length === 1, 'the answer from C');
    const reply = dnsPacket.decode(c.replies[0] as Buffer);
    assert.equal(reply.id, 7);
    assert.equal(reply.questions?.[0]?.name, 'A.example', 'the question as asked');
    assert.deepEqual(
      reply.answers?.map((a) => (a as { data: string }).data),
      ['192.0.2.1'],
    );
    assert.deepEqual(sizes, [], 'onBatch was not called');
    assert.equal(socket.stats().batchesInC, 1);
    const taken: number[] = [];
    socket.takeAnsweredInC((slots, n) => taken.push(...slots.subarray(0, n)));
    socket.takeAnsweredInC((slots, n) => taken.push(...slots.subarray(0, n)));
    assert.deepEqual(taken, [slot], 'each answer taken once');

    c.socket.send('hello', socket.port, '127.0.0.1');
    await until(() => c.replies.length === 2, 'the echo');
    assert.equal((c.replies[1] as Buffer).toString(), 're:hello');
    generation[0] = 2;
    c.socket.send(q, socket.port, '127.0.0.1');
    await until(() => c.replies.length === 3, 'the echo of the query');
    assert.equal((c.replies[2] as Buffer).subarray(0, 3).toString(), 're:', 'a newer table: onBatch answers');
    assert.deepEqual(sizes, [1, 1]);
    assert.equal(socket.stats().batchesInC, 1);
    assert.equal(socket.stats().received, 3);
  });

  it('refuses arrays smaller than the batch and a second arming', () => {
    const binding = loadAddon().binding as NetioBinding;
    const [handle] = binding.open('127.0.0.1', 0, 0, 0, false, () => {});
    after(() => binding.close(handle));
    const store = binding.templates(4, 2);
    const recv = [Buffer.alloc(4096 * 2), 4096, new Int32Array(2), Buffer.alloc(64), 2] as const;
    const out = [
      Buffer.alloc(1024),
      new Int32Array(4),
      new Int32Array(4),
      Buffer.alloc(128),
      4,
      1024,
    ] as const;
    const cells = () =>
      [
        new Int32Array(new ArrayBuffer(4)),
        new Int32Array(new ArrayBuffer(20)),
        new Float64Array(new ArrayBuffer(32)),
        new Int32Array(new ArrayBuffer(64)),
      ] as const;
    const fast = binding.fast as NonNullable<NetioBinding['fast']>;
    const [gen, control, counts, deferred] = cells();
    assert.throws(
      () => fast(handle, store, ...recv, ...out, new Int32Array(0), control, counts, deferred),
      /too small/,
    );
    assert.throws(
      () => fast(handle, store, ...recv, ...out, gen, control, new Float64Array(2), deferred),
      /too small/,
    );
    fast(handle, store, ...recv, ...out, gen, control, counts, deferred);
    assert.throws(() => fast(handle, store, ...recv, ...out, ...cells()), /already armed/);
  });
});
