// The VIP proxy on real loopback sockets: two services on one port told apart by address.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { VipProxy, type VipRoute } from '../../src/vip/index.js';
import { freePort } from '../helpers/ports.js';
import { VIP_RELAY_KINDS } from '../helpers/vip-relay.js';

/** A backend that greets with its name, echoes upper-cased, and says "bye" after the client's FIN. */
async function backend(name: string, host: string): Promise<net.Server & { port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.write(`${name}\n`);
    s.on('data', (d) => s.write(d.toString().toUpperCase()));
    s.on('end', () => s.end('bye\n'));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

/** Connects, sends `text`, half-closes, and collects everything until the server closes. */
function converse(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    s.on('connect', () => s.end(text));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

for (const relay of VIP_RELAY_KINDS) {
  describe(`VIP proxy (--vip-relay ${relay})`, () => {
    let a: Awaited<ReturnType<typeof backend>>;
    let b: Awaited<ReturnType<typeof backend>>;
    let proxy: VipProxy;
    let port: number;
    let routes: VipRoute[];
    const resolved: string[] = [];

    before(async () => {
      a = await backend('A', '127.0.0.61');
      b = await backend('B', '127.0.0.62');
      port = await freePort('127.0.0.201');
      proxy = new VipProxy({
        // Stands in for the upstream resolvers: maps the entry's host to backend B.
        resolve: async (name) => {
          resolved.push(name);
          return name === 'db-b.example.com' ? ['127.0.0.62'] : [];
        },
        connectTimeoutMs: 1000,
        idleTimeoutMs: 5000,
        logger: pino({ level: 'silent' }),
        relay,
      });
      routes = [
        {
          vip: '127.0.0.201',
          port,
          host: 'db-a.example.com',
          resolution: 'STATIC',
          endpoints: [{ address: '127.0.0.61', port: a.port }],
          hostPort: port,
          origin: 'ServiceEntry default/db-a',
        },
        {
          vip: '127.0.0.202',
          port,
          host: 'db-b.example.com',
          resolution: 'DNS',
          endpoints: [],
          hostPort: b.port,
          origin: 'ServiceEntry default/db-b',
        },
      ];
      await proxy.setRoutes(routes);
    });
    after(async () => {
      await proxy.close();
      a.close();
      b.close();
    });

    it('routes each VIP on the same port to its own backend, bytes and half-close both ways', async () => {
      assert.equal(await converse('127.0.0.201', port, 'select 1'), 'A\nSELECT 1bye\n');
      assert.equal(await converse('127.0.0.202', port, 'select 2'), 'B\nSELECT 2bye\n');
      assert.deepEqual(resolved, ['db-b.example.com'], 'DNS resolution asks for the host, STATIC does not');
    });

    it('counts connections and bytes per VIP', () => {
      const stats = proxy.stats().find((s) => s.host === 'db-a.example.com');
      assert.equal(stats?.total, 1);
      assert.equal(stats?.active, 0);
      assert.equal(stats?.bytesToBackend, 'select 1'.length);
      assert.equal(stats?.bytesToClient, 'A\nSELECT 1bye\n'.length);
    });

    it('a backend that refuses resets the client and counts a connect error', async () => {
      const dead = await freePort('127.0.0.63');
      await proxy.setRoutes([
        ...routes,
        {
          vip: '127.0.0.203',
          port,
          host: 'dead.example.com',
          resolution: 'STATIC',
          endpoints: [{ address: '127.0.0.63', port: dead }],
          hostPort: dead,
          origin: 'x',
        },
      ]);
      await assert.rejects(converse('127.0.0.203', port, 'hello'), { code: 'ECONNRESET' });
      assert.equal(proxy.stats().find((s) => s.host === 'dead.example.com')?.connectErrors, 1);
    });

    it('follows route changes without dropping connections of other routes', async () => {
      const open = net.connect({ host: '127.0.0.201', port });
      const greeting = await new Promise<string>((resolve) =>
        open.once('data', (d) => resolve(d.toString())),
      );
      assert.equal(greeting, 'A\n');
      await proxy.setRoutes([routes[0]]);
      await assert.rejects(converse('127.0.0.202', port, 'x'), { code: 'ECONNREFUSED' });
      const echoed = new Promise<string>((resolve) => open.once('data', (d) => resolve(d.toString())));
      open.write('still here');
      assert.equal(await echoed, 'STILL HERE');
      open.destroy();
      await proxy.setRoutes(routes);
      assert.equal(await converse('127.0.0.202', port, 'back'), 'B\nBACKbye\n');
    });
  });
}
