// Two DNS servers on one port (SO_REUSEPORT), the first handing over as on SIGTERM (issue 14 item 3): on
// the native path its socket leaves the port's group and answers what it had queued, so no query sent
// around the hand-over is lost; afterwards the second answers every query, over UDP and TCP.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DnsServer, udpReusePort } from '../../src/server/index.js';
import { encodeQuery, rcodeOf, sendTcp, sendUdp } from '../helpers/dns-client.js';
import { freePort } from '../helpers/ports.js';
import { tablePipeline } from '../helpers/table-server.js';
import { UDP_PATHS } from '../helpers/udp-io.js';

const NAME = 'productpage.default.svc.cluster.local';
const QUERIES = 200;

/** `n` queries from as many client sockets at once (each its own source port: both servers get some). */
function burst(port: number, n: number, from = 0): Promise<Buffer>[] {
  return Array.from({ length: n }, (_, i) => sendUdp(port, encodeQuery(NAME, 'A', { id: from + i })));
}

for (const io of UDP_PATHS) {
  const why = udpReusePort({ io }) ?? undefined;
  describe(`hand-over on one port, UDP ${io}`, { skip: why }, () => {
    const servers: DnsServer[] = [];
    after(() => Promise.all(servers.map((s) => s.close())));

    async function server(port: number): Promise<DnsServer> {
      const s = new DnsServer({
        host: '127.0.0.1',
        port,
        pipeline: tablePipeline(),
        udp: { io },
        sharePort: 'serve:/test/state.json',
      });
      servers.push(s);
      await s.start();
      return s;
    }

    it('a second server binds the port of a running one; after the hand-over it answers everything', async () => {
      const port = await freePort('127.0.0.1');
      const first = await server(port);
      const second = await server(port);
      assert.equal(first.notShared, undefined);
      const before = await Promise.all(burst(port, QUERIES));
      assert.equal(before.length, QUERIES);
      assert.ok(first.udpStats().datagrams > 0 && second.udpStats().datagrams > 0, 'the kernel spread them');

      // Sent as the hand-over starts: on the native path the first answers those it queued.
      const around = burst(port, QUERIES, QUERIES);
      const handedOver = first.handOver(Date.now() + 2000);
      const answered = await Promise.allSettled(around);
      await handedOver;
      const lost = answered.filter((r) => r.status === 'rejected').length;
      if (io === 'native') assert.equal(lost, 0, `${lost} of ${QUERIES} lost`);

      const seen = second.udpStats().datagrams;
      const afterwards = await Promise.all(burst(port, QUERIES, 2 * QUERIES));
      assert.ok(afterwards.every((r) => rcodeOf(r) === 0));
      assert.equal(second.udpStats().datagrams - seen, QUERIES, 'the second got them all');
      const [tcp] = await sendTcp(port, [encodeQuery(NAME, 'A', { id: 9 })]);
      assert.equal(rcodeOf(tcp!), 0, 'TCP too');
    });
  });
}
