// A full socket send buffer on the native UDP path (issue 12 items 1 and 7): `serve` in a network
// namespace of its own, whose loopback device gets a qdisc (tbf, 1 Mbit/s) that holds its answers, so
// that a small SO_SNDBUF (--udp-send-buffer) fills and sendmmsg stops on EAGAIN. A plain loopback cannot
// show this: it hands every datagram to its receiver at once, and the sender's buffer never fills. A burst of
// table repeats is answered by C whole (netio.c, the wakes answered in C) until its send stops; JavaScript
// then takes over C's send queue, waits for room, and queues the replies of later batches behind it.
// Every query must get its answer, none dropped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { batchSocketSupport } from '../../src/netio/index.js';
import { encodeQuery, rcodeOf } from '../helpers/dns-client.js';
import { BIN, type Running, serveExamples, startCli, waitForOutput } from '../helpers/meshdns.js';
import { canMakeNetns, createNetns, type Netns } from '../helpers/netns.js';

const native = batchSocketSupport();
const why =
  canMakeNetns() ??
  (native.available ? undefined : `the native UDP path is not loaded (${native.reason}): nothing to test`);

const PORT = 5353;
const ADMIN = '127.0.0.1:19090';
const NAME = 'productpage.default.svc.cluster.local';
/** Fewer than the send queue holds (256 replies): none may be dropped while the socket is full. */
const BURST = 200;

/**
 * Sends each query (hex, one per argument) at once, then prints every reply as hex, one
 * per line, once all have come or 10 s have passed. Run with `node -e` inside the namespace.
 */
const CLIENT_SCRIPT = `
const dgram = require('node:dgram');
const queries = process.argv.slice(1).map((h) => Buffer.from(h, 'hex'));
const replies = [];
const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
const done = () => { clearTimeout(timer); s.close(); process.stdout.write(replies.join('\\n')); };
const timer = setTimeout(done, 10000);
s.on('message', (m) => { replies.push(m.toString('hex')); if (replies.length === queries.length) done(); });
s.bind(0, '127.0.0.1', () => { for (const q of queries) s.send(q, ${PORT}, '127.0.0.1'); });
`;

describe('native UDP path: a full socket send buffer', { skip: why }, () => {
  const serve = serveExamples('e2e-backpressure');
  let ns: Netns;
  let agent: Running | undefined;

  before(async () => {
    ns = await createNetns('mdbp');
    // Datagrams queue in the qdisc (up to 5 s of them), the answers charged to the sending socket
    // meanwhile. A loopback listener: the path that answers whole wakes in C runs without an allow list.
    // tbf drops a packet longer than its burst: loopback's 64 KiB MTU would drop the admin API's TCP.
    const tbf = ['rate', '1mbit', 'burst', '4kb', 'latency', '5s'];
    await ns.exec(['ip', 'link', 'set', 'lo', 'mtu', '1500']);
    await ns.exec(['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', ...tbf]);
    agent = startCli(
      [
        ...serve.args(),
        ...['--dns-listen', `127.0.0.1:${PORT}`, '--admin-listen', ADMIN],
        ...['--udp-io', 'native', '--udp-send-buffer', '4096'],
      ],
      { command: ['ip', 'netns', 'exec', ns.name, process.execPath, BIN] },
    );
    await waitForOutput(agent, /serving DNS/);
  });

  after(async () => {
    await agent?.stop();
    await ns?.remove();
  });

  /** The queries' replies as the client got them, in arrival order: id, rcode and the A records. */
  async function burst(ids: number[]): Promise<{ id: number; rcode: number; a: string[] }[]> {
    const queries = ids.map((id) => encodeQuery(NAME, 'A', { id }).toString('hex'));
    const { stdout } = await ns.exec([process.execPath, '-e', CLIENT_SCRIPT, ...queries], {
      timeoutMs: 20_000,
    });
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((h) => {
        const raw = Buffer.from(h, 'hex');
        const answers = dnsPacket.decode(raw).answers ?? [];
        const a = answers.flatMap((r) => (r.type === 'A' ? [r.data] : []));
        return { id: raw.readUInt16BE(0), rcode: rcodeOf(raw), a };
      });
  }

  async function metric(name: string): Promise<number> {
    const script = `fetch('http://${ADMIN}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const { stdout } = await ns.exec([process.execPath, '-e', script]);
    const line = stdout.split('\n').find((l) => l.startsWith(`${name} `));
    assert.ok(line, `${name} in /metrics`);
    return Number(line.slice(name.length + 1));
  }

  it('a burst larger than the socket buffer holds: every query answered, the send waited for room', async () => {
    // The first answer is JavaScript's; from then on C has the name's answer and answers its repeats.
    const [first] = await burst([1]);
    assert.deepEqual(first?.a, ['10.96.0.10']);
    const ids = Array.from({ length: BURST }, (_, i) => i + 2);
    const replies = await burst(ids);
    assert.equal(replies.length, BURST, `replies: ${replies.length} of ${BURST}`);
    assert.deepEqual(
      replies.map((r) => r.id).sort((a, b) => a - b),
      ids,
    );
    for (const r of replies) {
      assert.equal(r.rcode, 0);
      assert.deepEqual(r.a, ['10.96.0.10']);
    }
    // Table repeats only, with nothing queued before: C answered the burst's first batches itself, and the
    // first send that found the buffer full was C's (JavaScript took its queue over from there).
    assert.ok((await metric('meshdns_udp_batches_in_c_total')) > 0, 'batches answered whole in C');
    assert.ok((await metric('meshdns_udp_send_blocked_total')) > 0, 'a send found the socket buffer full');
    assert.equal(await metric('meshdns_limit_reached_total{limit="udp_send_queue"}'), 0, 'no answer dropped');
  });
});
