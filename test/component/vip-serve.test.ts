// `meshdns serve --vip-proxy` on loopback VIPs (a 127.x range needs no route or root): the table
// answers with the VIPs, connections to VIP:port reach each entry's backend, /debug/vips and the
// metrics show them.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { a } from '../helpers/fake-upstream.js';
import { tempFolder } from '../helpers/manifests.js';
import { type Running, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

function backend(name: string, host: string): Promise<net.Server & { port: number }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(`database ${name}\n`);
  });
  return new Promise((resolve) =>
    server.listen(0, host, () =>
      resolve(Object.assign(server, { port: (server.address() as net.AddressInfo).port })),
    ),
  );
}

function greeting(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect({ host, port });
    s.on('data', (d) => {
      got += d;
    });
    s.on('end', () => resolve(got.trim()));
    s.on('error', reject);
  });
}

describe('meshdns serve --vip-proxy', () => {
  const dir = tempFolder('meshdns-vip-serve-');
  let stub: StubDns;
  let agent: Running;
  let dbA: net.Server & { port: number };
  let dbB: net.Server & { port: number };
  let dnsPort: number;
  let adminPort: number;
  let vipPort: number;

  before(async () => {
    dbA = await backend('A', '127.0.0.61');
    dbB = await backend('B', '127.0.0.62');
    // The upstream knows db-b by name: the DNS resolution of its ServiceEntry.
    stub = await startStubDns((q) =>
      q.name === 'db-b.example.com' && q.type === 'A'
        ? { answers: [a('db-b.example.com', 60, '127.0.0.62')] }
        : { flags: 3 },
    );
    vipPort = await freePort('127.77.0.1');
    await writeFile(
      join(dir(), 'mesh.yaml'),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-a, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [db-a.example.com]
  ports: [{number: ${vipPort}, name: mysql, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.61, ports: {mysql: ${dbA.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-b, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  hosts: [db-b.example.com]
  ports: [{number: ${vipPort}, name: mysql, protocol: TCP, targetPort: ${dbB.port}}]
  resolution: DNS
`,
    );
    dnsPort = await freePort('127.0.0.1');
    adminPort = await freePort('127.0.0.1');
    agent = startCli([
      'serve',
      '--manifests',
      dir(),
      '--vip-proxy',
      '--vip-range-v4',
      '127.77.0.0/24',
      '--state-file',
      join(dir(), 'state.json'),
      '--upstream',
      `${stub.host}:${stub.port}`,
      '--search',
      'x.test',
      '--dns-listen',
      `127.0.0.1:${dnsPort}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
    ]);
    await waitForDns('127.0.0.1', dnsPort);
  });

  after(async () => {
    await agent?.stop();
    await stub?.close();
    dbA?.close();
    dbB?.close();
  });

  it('answers each host with its VIP and routes VIP:port to its own backend', async () => {
    const vips: string[] = [];
    for (const host of ['db-a.example.com', 'db-b.example.com']) {
      const reply = await ask('udp', dnsPort, host, 'A');
      const [answer] = reply.answers ?? [];
      vips.push(answer && 'data' in answer ? String(answer.data) : '');
    }
    assert.deepEqual(vips, ['127.77.0.1', '127.77.0.2']);
    assert.equal(await greeting(vips[0], vipPort), 'database A', agent.output());
    assert.equal(await greeting(vips[1], vipPort), 'database B', agent.output());
  });

  it('shows the VIPs and the listeners on /debug/vips and in the metrics', async () => {
    const body = (await (await fetch(`http://127.0.0.1:${adminPort}/debug/vips`)).json()) as {
      vips: { host: string; v4: string }[];
      proxy: { enabled: boolean; listeners: { host: string; vip: string; port: number; total: number }[] };
    };
    assert.deepEqual(
      body.vips.map((v) => `${v.host} ${v.v4}`),
      ['db-a.example.com 127.77.0.1', 'db-b.example.com 127.77.0.2'],
    );
    assert.equal(body.proxy.enabled, true);
    const a4 = body.proxy.listeners.find((l) => l.vip === '127.77.0.1');
    assert.deepEqual([a4?.host, a4?.port, a4?.total], ['db-a.example.com', vipPort, 1]);
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(
        `meshdns_vip_connections_total\\{host="db-b.example.com",vip="127.77.0.2",port="${vipPort}"\\} 1`,
      ),
    );
  });
});
