// The two UDP I/O paths side by side (issue 12): the same bytes for the same queries, the allow list on
// both, forwarded answers that outlive their batch, and the fallback to node:dgram without the addon.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { ADDON_PATH_ENV } from '../../src/netio/index.js';
import { type Cidr, ClientAllowList, DnsServer, parseCidr } from '../../src/server/index.js';
import { encodeQuery, rcodeOf, sendUdp } from '../helpers/dns-client.js';
import { serveExamples, startCli, waitForDns, waitForOutput } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { startRawDns } from '../helpers/stub-dns.js';
import { tablePipeline } from '../helpers/table-server.js';
import { UDP_PATHS, type UdpPathName } from '../helpers/udp-io.js';

const S = 'default.svc.cluster.local';
const NO_NATIVE = UDP_PATHS.includes('native') ? undefined : 'the native batch socket is not built here';
const SERVE = serveExamples('udp-io-test').args();

/** Sends every message from one socket at once and collects as many replies (any order), or fails. */
async function burst(
  port: number,
  msgs: Buffer[],
  expected = msgs.length,
  timeoutMs = 5000,
): Promise<Buffer[]> {
  const host = '127.0.0.1';
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const replies: Buffer[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${replies.length} of ${expected} replies in ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.on('message', (m) => {
        replies.push(m);
        if (replies.length === expected) {
          clearTimeout(timer);
          resolve();
        }
      });
      for (const m of msgs) socket.send(m, port, host);
    });
  } finally {
    socket.close();
  }
  return replies;
}

/** A table server on one path; closed by the file's `after`. */
async function tableServer(io: UdpPathName, host = '127.0.0.1', allow?: string[]): Promise<DnsServer> {
  const allowFrom = allow && new ClientAllowList(allow.map((c) => parseCidr(c) as Cidr));
  const server = new DnsServer({ host, port: 0, pipeline: tablePipeline([S]), udp: { io }, allowFrom });
  await server.start();
  after(() => server.close());
  assert.equal(server.udpPath.io, io);
  return server;
}

/** Queries whose answers take every branch of the table path: hits, NODATA, TC, EDNS, rejects. */
function queries(): Buffer[] {
  const qr = encodeQuery(`productpage.${S}`, 'A', { id: 9 });
  qr.writeUInt16BE(0x8100, 2);
  const notify = encodeQuery(`productpage.${S}`, 'A', { id: 10 });
  notify.writeUInt16BE(4 << 11, 2);
  return [
    encodeQuery(`productpage.${S}`, 'A', { id: 1 }),
    encodeQuery(`ProductPage.${S.toUpperCase()}`, 'A', { id: 2 }),
    encodeQuery(`productpage.${S}`, 'MX', { id: 3 }),
    encodeQuery('legacy.internal', 'A', { id: 4 }),
    encodeQuery('legacy.internal', 'A', { id: 5 }),
    encodeQuery('many.example.com', 'A', { id: 6 }),
    encodeQuery('many.example.com', 'A', { id: 7, edns: 4096 }),
    encodeQuery('nowhere.example', 'A', { id: 8 }),
    qr,
    notify,
  ];
}

describe('UDP I/O paths: the same answers', { skip: NO_NATIVE }, () => {
  it('every query gets byte for byte the same reply on native and on dgram', async () => {
    const servers = { native: await tableServer('native'), dgram: await tableServer('dgram') };
    // One by one, in the same order on both: rotation moves the same way.
    for (const q of queries()) {
      const [n, d] = [await sendUdp(servers.native.port, q), await sendUdp(servers.dgram.port, q)];
      assert.ok(n.equals(d), `query id ${q.readUInt16BE(0)}: ${n.toString('hex')} != ${d.toString('hex')}`);
    }
  });

  it('a batch mixing good, malformed and rejected queries: the same replies on both', async () => {
    // The 3-byte datagram is dropped (no reply); every other one is answered, FORMERR and NOTIMP included.
    const mixed = [...queries(), Buffer.from([1, 2, 3]), encodeQuery(`reviews.${S}`, 'A', { id: 11 })];
    const replies = async (io: UdpPathName) =>
      (await burst((await tableServer(io)).port, mixed, mixed.length - 1))
        .map((r) => `${r.readUInt16BE(0)} ${rcodeOf(r)} ${r.length}`)
        .sort();
    assert.deepEqual(await replies('native'), await replies('dgram'));
  });
});

for (const io of UDP_PATHS) {
  describe(`UDP I/O ${io}: counts`, () => {
    it('a burst is counted in datagrams and the batches it came in', async () => {
      const server = await tableServer(io);
      const msgs = Array.from({ length: 100 }, (_, i) => encodeQuery(`productpage.${S}`, 'A', { id: i }));
      await burst(server.port, msgs);
      const { datagrams, batches, tooLong } = server.udpStats();
      assert.deepEqual({ datagrams, tooLong }, { datagrams: 100, tooLong: 0 });
      // Sent in one turn, so they wait in the socket together: fewer batches than datagrams.
      assert.ok(batches >= 1 && batches < 100, `${batches} batches`);
    });
  });

  describe(`UDP I/O ${io}: the allow list (SPEC §10)`, () => {
    it('IPv4: REFUSED outside it, answered inside it, each refusal counted', async () => {
      const server = await tableServer(io, '127.0.0.1', ['127.0.0.2/32']);
      const q = encodeQuery(`productpage.${S}`, 'A');
      assert.equal(rcodeOf(await sendUdp(server.port, q)), 5);
      assert.equal(rcodeOf(await sendUdp(server.port, q, { localAddress: '127.0.0.2' })), 0);
      assert.equal(server.limits.stats().reached.allow_from, 1);
    });

    it('IPv6: the client ::1 is matched as node:dgram spells it', async () => {
      const inside = await tableServer(io, '::1', ['::1/128']);
      const outside = await tableServer(io, '::1', ['fd00::/8']);
      const q = encodeQuery(`productpage.${S}`, 'A');
      assert.equal(rcodeOf(await sendUdp(inside.port, q, { host: '::1' })), 0);
      assert.equal(rcodeOf(await sendUdp(outside.port, q, { host: '::1' })), 5);
    });
  });

  describe(`UDP I/O ${io}: forwarded answers outlive their batch`, () => {
    let agent: Agent;
    let upstream: { host: string; port: number; close(): Promise<void> };
    const timers = new Set<NodeJS.Timeout>();
    before(async () => {
      // Answers 30 ms late, so later batches reuse the receive slab while the first are still upstream.
      upstream = await startRawDns((msg, reply) => {
        const q = dnsPacket.decode(msg);
        const name = q.questions![0].name;
        const n = Number(/(\d+)/.exec(name)?.[1] ?? 0);
        const answer = dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: dnsPacket.RECURSION_AVAILABLE,
          questions: q.questions,
          answers: [{ name, type: 'A', ttl: 60, data: `192.0.2.${n % 250}` }],
        });
        const t = setTimeout(() => {
          timers.delete(t);
          reply(answer);
        }, 30);
        timers.add(t);
      });
      agent = new Agent({
        listen: { host: '127.0.0.1', port: 0 },
        upstreams: [upstream],
        upstreamTimeoutMs: 3000,
        udp: { io },
        logger: pino({ level: 'silent' }),
      });
      await agent.start();
    });
    after(async () => {
      await agent.close();
      for (const t of timers) clearTimeout(t);
      await upstream.close();
    });

    it('200 queries at once (100 names, each twice): each reply has its own ID, question bytes and address', async () => {
      assert.equal(agent.udpPath.io, io);
      const msgs = Array.from({ length: 200 }, (_, i) => {
        const n = i % 100;
        // Mixed case: the reply must carry the client's question bytes, not another query's.
        return encodeQuery(`Host-${n}.Forward.TEST`, 'A', { id: 1000 + i });
      });
      const replies = await burst(agent.port, msgs);
      const wrong: string[] = [];
      for (const r of replies) {
        const p = dnsPacket.decode(r);
        const i = (p.id ?? 0) - 1000;
        const n = i % 100;
        const question = p.questions?.[0]?.name;
        const data = (p.answers?.[0] as { data?: string } | undefined)?.data;
        if (question !== `Host-${n}.Forward.TEST` || data !== `192.0.2.${n % 250}`) {
          wrong.push(`id ${p.id}: ${question} ${data}`);
        }
      }
      assert.deepEqual(wrong, []);
      assert.equal(new Set(replies.map((r) => r.readUInt16BE(0))).size, 200);
    });
  });
}

describe('UDP I/O: the fallback to node:dgram', () => {
  it('without the addon, auto answers on dgram and says once why', async () => {
    const port = await freePort('127.0.0.1');
    const run = startCli([...SERVE, '--dns-listen', `127.0.0.1:${port}`, '--log-level', 'info'], {
      env: { [ADDON_PATH_ENV]: '/nonexistent/netio.node' },
    });
    try {
      await waitForDns('127.0.0.1', port);
      const reply = await sendUdp(port, encodeQuery(`productpage.${S}`, 'A'));
      assert.equal(rcodeOf(reply), 0);
      await waitForOutput(run, /"udpIo":"dgram"/);
      const lines = run
        .output()
        .split('\n')
        .filter((l) => l.includes('"udpIo"'));
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /\/nonexistent\/netio\.node/);
    } finally {
      await run.stop();
    }
  });

  it('without the addon, --udp-io native refuses to start, says why and what to do', async () => {
    const port = await freePort('127.0.0.1');
    const run = startCli([...SERVE, '--dns-listen', `127.0.0.1:${port}`, '--udp-io', 'native'], {
      env: { [ADDON_PATH_ENV]: '/nonexistent/netio.node' },
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(-1), 10_000);
      run.child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (code === -1) await run.stop();
    assert.notEqual(code, 0, run.output());
    assert.notEqual(code, -1, `still running:\n${run.output()}`);
    assert.match(run.output(), /MESHDNS_UDP_IO/);
    assert.match(run.output(), /--udp-io dgram/);
  });

  it('with the addon, auto answers in batches and says so', { skip: NO_NATIVE }, async () => {
    const port = await freePort('127.0.0.1');
    const run = startCli([...SERVE, '--dns-listen', `127.0.0.1:${port}`, '--log-level', 'info']);
    try {
      await waitForDns('127.0.0.1', port);
      await waitForOutput(run, /"udpIo":"native"/);
    } finally {
      await run.stop();
    }
  });
});
