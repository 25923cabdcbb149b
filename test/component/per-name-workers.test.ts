// Per-name VIPs (issue 14 item 5) on every answering thread (`--workers 2`): a first query that lands on
// the worker is asked of the main thread, whose allocator (here a fake standing for the controller) swaps
// in the table holding the name; the worker answers once its own copy holds it, and the names it
// answered reach the main thread's report. Clients are many sockets, so both threads get first queries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { emptyResources } from '../../src/model/index.js';
import { buildTableRecords, NameTable, type TableScope } from '../../src/nametable/index.js';
import { encodeQuery, sendUdp } from '../helpers/dns-client.js';
import { serviceEntry } from '../helpers/resources.js';
import { addressOf, type StubDns, startStubDns } from '../helpers/stub-dns.js';
import { UDP_PATHS } from '../helpers/udp-io.js';

const SCOPE: TableScope = { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] };
const W = '*.db.example.com';
/** Names asked, each from a socket of its own: with two sockets in the group, all on one is a 2^-39 chance. */
const NAMES = Array.from({ length: 40 }, (_, i) => `db${i}.db.example.com`);

/** A name of every table: once every client gets it, every thread has a table. */
const READY = 'ready.example.com';

/** The table with the per-name wildcard and `names` holding VIPs 240.240.0.1, .2, … in order. */
function table(names: readonly string[]): NameTable {
  const res = emptyResources();
  res.serviceEntries.push(serviceEntry('default', 'dbs', [W], { resolution: 'DNS' }));
  res.serviceEntries.push(serviceEntry('default', 'ready', [READY], { addresses: ['10.0.0.1'] }));
  for (const n of names)
    res.serviceEntries.push(serviceEntry('default', 'dbs', [n], { resolution: 'DNS', perNameOf: W }));
  const vips = (_se: unknown, host: string) => {
    const i = names.indexOf(host);
    return i < 0 ? undefined : { v4: `240.240.0.${i + 1}`, v6: `2001:2::${i + 1}` };
  };
  return NameTable.fromRecords(buildTableRecords(res, SCOPE, vips, (_se, host) => host === W));
}

describe('per-name VIPs on the answering workers (--workers 2, native UDP path)', {
  skip: UDP_PATHS.includes('native') ? false : 'the native batch socket is not built here',
}, () => {
  let agent: Agent;
  let upstream: StubDns;
  const given: string[] = [];
  const touched = new Set<string>();

  before(async () => {
    // Every name exists upstream (the agent asks before it allocates).
    upstream = await startStubDns((q) => ({
      answers: q.type === 'A' ? [{ name: q.name, type: 'A', ttl: 60, data: '192.0.2.1' }] : [],
    }));
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [{ host: upstream.host, port: upstream.port }],
      upstreamTimeoutMs: 1000,
      logger: pino({ level: 'silent' }),
      udp: { io: 'native' },
      workers: 2,
    });
    agent.usePerName(
      {
        ask: async (name) => {
          if (!given.includes(name)) given.push(name);
          agent.setTable(table(given));
          return 'allocated';
        },
      },
      (names) => {
        for (const n of names) touched.add(n);
      },
      50,
    );
    await agent.start();
    agent.setTable(table([]));
    // Bounded: until every thread answers from a table (a first query before it would be forwarded).
    for (let i = 0; i < 50; i++) {
      const replies = await Promise.all(
        NAMES.map((_, j) => sendUdp(agent.port, encodeQuery(READY, 'A', { id: j + 1 }), { timeoutMs: 2000 })),
      );
      if (replies.every((r) => addressOf(r) === '10.0.0.1')) break;
      await sleep(50);
    }
  });

  after(async () => {
    await agent?.close();
    await upstream?.close();
  });

  it('each first query, on either thread, is answered with its VIP', async () => {
    const replies = await Promise.all(
      NAMES.map((n, i) => sendUdp(agent.port, encodeQuery(n, 'A', { id: i + 1 }), { timeoutMs: 3000 })),
    );
    const got = replies.map((r, i) => [NAMES[i], addressOf(r)]);
    const want = NAMES.map((n) => [n, `240.240.0.${given.indexOf(n) + 1}`]);
    assert.deepEqual(got, want);
    await agent.refreshWorkers();
    const [main, worker] = agent.threadStatus().udpDatagrams ?? [];
    assert.ok((main ?? 0) > 0 && (worker ?? 0) > 0, `both threads got first queries: ${[main, worker]}`);
  });

  it("the names answered on both threads reach the main thread's report", async () => {
    for (let i = 0; i < 100 && touched.size < NAMES.length; i++) await sleep(50);
    assert.deepEqual([...touched].sort(), [...NAMES].sort());
  });
});
