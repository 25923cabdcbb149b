// The VIP proxy on a host without the local route for the VIP range: binding fails (EADDRNOTAVAIL).
// The log says what to do, once for all the VIPs of an update, not once per VIP.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import pino from 'pino';
import { VipProxy, type VipRoute } from '../../src/vip/index.js';
import { VIP_RELAY_KINDS } from '../helpers/vip-relay.js';

/** True when 240.240.0.1 can be bound here (the route exists), which this test needs absent. */
async function vipRangeRouted(): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '240.240.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

function route(vip: string, port: number): VipRoute {
  return {
    vip,
    port,
    host: `db-${vip}.example.com`,
    resolution: 'DNS',
    endpoints: [],
    hostPort: port,
    origin: `ServiceEntry default/db-${vip}`,
  };
}

interface Line {
  level: number;
  msg: string;
  vips?: number;
}

for (const relay of VIP_RELAY_KINDS) {
  describe(`VIP proxy without the local route (--vip-relay ${relay})`, () => {
    it('one line per burst naming the fix and the count, not one per VIP', async (t) => {
      if (await vipRangeRouted()) return t.skip('240.240.0.0/16 is routed to this host');
      const lines: Line[] = [];
      let now = 0;
      const proxy = new VipProxy({
        resolve: async () => [],
        connectTimeoutMs: 1000,
        idleTimeoutMs: 1000,
        logger: pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Line) }),
        now: () => now,
        relay,
      });
      try {
        const routes = ['240.240.0.1', '240.240.0.2', '240.240.0.3'].map((vip) => route(vip, 3306));
        await proxy.setRoutes(routes);
        assert.equal(lines.length, 1, JSON.stringify(lines));
        assert.equal(lines[0]!.vips, 3);
        assert.match(
          lines[0]!.msg,
          /^cannot bind VIP 240\.240\.0\.1:3306: the VIP range is not routed to this host;/,
        );
        assert.match(lines[0]!.msg, /run `meshdns capture --apply`/);
        assert.match(lines[0]!.msg, /`ip route add local 240\.240\.0\.0\/16 dev lo`/);
        assert.match(lines[0]!.msg, /3 VIPs/);

        // The next update retries and fails the same way within the burst: counted, not logged.
        await proxy.setRoutes([...routes, route('240.240.0.4', 3306)]);
        assert.equal(lines.length, 1, JSON.stringify(lines));

        // After the burst interval, one more line with the current count.
        now += 60_000;
        await proxy.setRoutes(routes);
        assert.equal(lines.length, 2, JSON.stringify(lines));
        assert.equal(lines[1]!.vips, 3);
        assert.deepEqual(proxy.stats(), []);
      } finally {
        await proxy.close();
      }
    });
  });
}
