// End to end: the real CLI serving examples/, a real dnsmasq as the resolv.conf upstream on port 53
// of a loopback address, and real `dig` as the client, over UDP and TCP.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DIG_MISSING, dig, haveDig } from '../helpers/dig.js';
import {
  DNSMASQ_MISSING,
  type Dnsmasq,
  dnsmasqPath,
  freePort,
  randomLoopback,
  startDnsmasq,
} from '../helpers/dnsmasq.js';
import { type Running, startCli, waitForDns } from '../helpers/meshdns.js';

const isRoot = process.getuid?.() === 0;
const why = !isRoot
  ? 'needs root: the upstream listens on port 53, as resolv.conf has no port (run via .ci/run or sudo)'
  : !dnsmasqPath()
    ? DNSMASQ_MISSING
    : !(await haveDig())
      ? DIG_MISSING
      : undefined;

const S = 'default.svc.cluster.local';
const BIG_TXT = Array.from({ length: 12 }, (_, i) => `"${String(i).padStart(2, '0')}${'x'.repeat(98)}"`).join(
  ',',
);

/** `serve` on examples/ with its own port, resolv.conf and state file (the checkout stays clean). */
function serveExamples(port: number, conf: string, stateFile: string): string[] {
  return [
    'serve',
    '--manifests',
    'examples',
    '--dns-listen',
    `127.0.0.1:${port}`,
    '--resolv-conf',
    conf,
    '--state-file',
    stateFile,
  ];
}

async function resolvConf(dir: string, name: string, nameserver: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    `nameserver ${nameserver}\nsearch ${S} svc.cluster.local cluster.local\noptions ndots:5\n`,
  );
  return file;
}

describe('meshdns serve with a dnsmasq upstream', { skip: why }, () => {
  let dir: string;
  let upstream: Dnsmasq;
  let agent: Running;
  let port: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdns-e2e-'));
    upstream = await startDnsmasq({
      port: 53,
      domain: 'example.org',
      hosts: { 'www.example.org': ['203.0.113.5'], 'billing.example.net': ['203.0.113.9'] },
      records: [`txt-record=big.example.org,${BIG_TXT}`],
    });
    port = await freePort('127.0.0.1');
    const conf = await resolvConf(dir, 'resolv.conf', upstream.address);
    agent = startCli(serveExamples(port, conf, join(dir, 'allocations.json')));
    await waitForDns('127.0.0.1', port);
  });

  after(async () => {
    assert.equal(await agent?.stop(), 0, 'SIGTERM exits 0');
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const cases = [
    {
      name: 'local answer',
      q: `productpage.${S}`,
      type: 'A',
      status: 'NOERROR',
      aa: true,
      want: ['A 10.96.0.10'],
    },
    { name: 'alias', q: 'productpage', type: 'A', status: 'NOERROR', aa: true, want: ['A 10.96.0.10'] },
    {
      name: 'search shortcut CNAME',
      q: `checkout.payments.${S}`,
      type: 'A',
      status: 'NOERROR',
      aa: true,
      want: ['CNAME checkout.payments.', 'A 10.96.1.10'],
    },
    {
      name: 'wildcard',
      q: 'en.wiki.example.org',
      type: 'A',
      status: 'NOERROR',
      aa: true,
      want: ['A 192.0.2.30'],
    },
    { name: 'NODATA', q: `productpage.${S}`, type: 'AAAA', status: 'NOERROR', aa: true, want: [] },
    {
      name: 'ExternalName followed upstream',
      q: `billing.${S}`,
      type: 'A',
      status: 'NOERROR',
      aa: true,
      want: ['CNAME billing.example.net.', 'A 203.0.113.9'],
    },
    // The README's quick start: ServiceEntries without addresses answer with their VIPs (SPEC §5).
    { name: 'VIP', q: 'db-a.example.com', type: 'A', status: 'NOERROR', aa: true, want: ['A 240.240.0.1'] },
    {
      name: 'second VIP',
      q: 'db-b.example.com',
      type: 'A',
      status: 'NOERROR',
      aa: true,
      want: ['A 240.240.0.2'],
    },
    {
      name: 'IPv6 VIP',
      q: 'db-a.example.com',
      type: 'AAAA',
      status: 'NOERROR',
      aa: true,
      want: ['AAAA 2001:2::1'],
    },
    // Forwarded: whatever the upstream says, flags included (dnsmasq marks its local names aa).
    { name: 'forwarded answer', q: 'www.example.org', type: 'A', status: 'NOERROR', want: ['A 203.0.113.5'] },
    { name: 'upstream NXDOMAIN', q: 'nope.example.org', type: 'A', status: 'NXDOMAIN', want: [] },
    // Autopath (issue 14 item 2): the first search-path try of an external name ends the search.
    {
      name: 'autopath: an external name under the first search domain',
      q: `www.example.org.${S}`,
      type: 'A',
      status: 'NOERROR',
      want: ['CNAME www.example.org.', 'A 203.0.113.5'],
    },
  ];

  for (const transport of ['udp', 'tcp']) {
    for (const c of cases) {
      it(`${c.name} over ${transport}`, async () => {
        const r = await dig('127.0.0.1', port, c.q, c.type, transport === 'tcp' ? ['+tcp'] : []);
        assert.equal(r.status, c.status, r.output);
        assert.deepEqual(
          r.answers.map((a) => `${a.type} ${a.data}`),
          c.want,
          r.output,
        );
        if (c.aa) assert.ok(r.flags.includes('aa'), r.output);
        // Table records carry TTL 30; the chased ExternalName target keeps the upstream's TTL.
        const ours = c.name.startsWith('ExternalName') ? r.answers.slice(0, 1) : c.aa ? r.answers : [];
        for (const a of ours) assert.equal(a.ttl, 30, r.output);
      });
    }
  }

  it('a >512-byte upstream answer is truncated over UDP, whole over TCP', async () => {
    const udp = await dig('127.0.0.1', port, 'big.example.org', 'TXT', ['+ignore', '+noedns']);
    assert.ok(udp.flags.includes('tc'), udp.output);
    assert.ok(udp.size <= 512, udp.output);
    const tcp = await dig('127.0.0.1', port, 'big.example.org', 'TXT', ['+tcp']);
    assert.equal(tcp.status, 'NOERROR', tcp.output);
    assert.equal(tcp.answers.length, 1);
    assert.ok(tcp.size > 1200, tcp.output);
    assert.ok(!tcp.flags.includes('tc'));
  });
});

describe('meshdns serve with its upstreams down', { skip: why }, () => {
  let dir: string;
  let blackhole: Socket;
  const budgetMs = 1500;
  const agents: Running[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdns-e2e-down-'));
    // A server that swallows every query: the forwarder must give up after its budget.
    blackhole = createSocket('udp4');
    const hole = randomLoopback();
    await new Promise<void>((resolve) => blackhole.bind(53, hole, () => resolve()));
    // Nothing listens on this one: queries are refused by the kernel at once.
    const closed = randomLoopback();
    for (const ns of [hole, closed]) {
      const port = await freePort('127.0.0.1');
      const conf = await resolvConf(dir, `resolv-${ns}.conf`, ns);
      const args = serveExamples(port, conf, join(dir, `allocations-${ns}.json`));
      const agent = startCli([...args, '--upstream-timeout', String(budgetMs)]);
      agents.push(Object.assign(agent, { port }));
      await waitForDns('127.0.0.1', port);
    }
  });

  after(async () => {
    for (const a of agents) assert.equal(await a.stop(), 0);
    blackhole?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [i, kind] of ['silent upstream', 'refusing upstream'].entries()) {
    it(`${kind} → SERVFAIL within the budget, table names still answered`, async () => {
      const port = (agents[i] as Running & { port: number }).port;
      const started = Date.now();
      const r = await dig('127.0.0.1', port, 'www.example.org');
      const took = Date.now() - started;
      assert.equal(r.status, 'SERVFAIL', r.output);
      assert.ok(took < budgetMs + 1000, `answered after ${took} ms, budget ${budgetMs} ms`);
      const local = await dig('127.0.0.1', port, `productpage.${S}`);
      assert.deepEqual(
        local.answers.map((a) => a.data),
        ['10.96.0.10'],
      );
    });
  }
});
