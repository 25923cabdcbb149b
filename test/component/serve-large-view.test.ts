// A view bigger than one message between `serve`'s two threads: the controller's worker sends names,
// VIPs and routes ahead in parts of 1,000 (as strings, several in flight), the agent's thread decodes
// them in its time slices. Every name, VIP and route must arrive, and the proxy must serve each.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { tempFolder } from '../helpers/manifests.js';
import { eventually, type Running, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

/** Over two parts of VIPs and routes, and of names with the Services. */
const ENTRIES = 2_100;
const SERVICES = 1_200;
const PORT = 5432;

function manifests(): string {
  const docs: string[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se-${i}, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [se-${i}.example.com]
  ports: [{number: ${PORT}, name: tcp, protocol: TCP}]
  resolution: DNS
`);
  }
  for (let i = 0; i < SERVICES; i++) {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: svc-${i}, namespace: default}
spec:
  clusterIP: 10.96.${i >> 8}.${i & 0xff}
  ports: [{port: 80}]
`);
  }
  return docs.join('---\n');
}

describe('serve: a view of several parts reaches the agent whole', () => {
  const dir = tempFolder('meshdns-large-view-');
  let agent: Running | undefined;
  let dnsPort = 0;
  let adminPort = 0;

  before(async () => {
    await writeFile(join(dir(), 'mesh.yaml'), manifests());
    dnsPort = await freePort('127.0.0.1');
    adminPort = await freePort('127.0.0.1');
    agent = startCli([
      'serve',
      ...['--manifests', dir(), '--state-file', join(dir(), 'state.json')],
      ...['--vip-proxy', '--vip-range-v4', '127.78.0.0/16'],
      ...['--upstream', '127.0.0.1:9', '--upstream-timeout', '300', '--search', 'x.test'],
      ...['--dns-listen', `127.0.0.1:${dnsPort}`, '--admin-listen', `127.0.0.1:${adminPort}`],
    ]);
    await waitForDns('127.0.0.1', dnsPort);
  });

  after(async () => {
    assert.equal(await agent?.stop(), 0, agent?.output());
  });

  it('has every VIP, and a proxy listener on every VIP:port', async () => {
    type Vips = {
      vips: { host: string; v4: string }[];
      proxy: { listeners: { vip: string; port: number }[] };
    };
    let body: Vips = { vips: [], proxy: { listeners: [] } };
    await eventually(async () => {
      body = (await (await fetch(`http://127.0.0.1:${adminPort}/debug/vips`)).json()) as Vips;
      assert.equal(body.vips.length, ENTRIES);
      assert.equal(body.proxy.listeners.length, ENTRIES);
    }, 30_000);
    const vips = new Map(body.vips.map((v) => [v.host, v.v4]));
    assert.equal(vips.size, ENTRIES);
    assert.equal(new Set(vips.values()).size, ENTRIES, 'every host has a VIP of its own');
    const listening = new Set(body.proxy.listeners.map((l) => `${l.vip}:${l.port}`));
    for (const v4 of vips.values()) assert.ok(listening.has(`${v4}:${PORT}`), `no listener on ${v4}:${PORT}`);
  });

  it('answers the first and the last names of every kind from the table', async () => {
    const answer = async (name: string) => {
      const p = await ask('udp', dnsPort, name, 'A', { timeoutMs: 2000 });
      return (p.answers ?? []).map((r) => String((r as { data: unknown }).data));
    };
    const vipOf = async (i: number) => (await answer(`se-${i}.example.com`))[0] ?? '';
    assert.match(await vipOf(0), /^127\.78\./);
    assert.match(await vipOf(ENTRIES - 1), /^127\.78\./);
    assert.deepEqual(await answer('svc-0.default.svc.cluster.local'), ['10.96.0.0']);
    const last = SERVICES - 1;
    assert.deepEqual(await answer(`svc-${last}.default.svc.cluster.local`), [
      `10.96.${last >> 8}.${last & 0xff}`,
    ]);
  });
});
