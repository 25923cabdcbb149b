// `--workers N` (issue 12 items 5 and 7): N threads answer UDP on one port through SO_REUSEPORT. Every
// thread answers from the table the main thread swapped in (a diff, or the whole table for a worker that
// starts later), the metrics and /debug/* sum the threads, and a worker that dies is logged, counted and
// restarted while the other threads keep answering. Clients are many sockets (one source port each), so
// the kernel's hash of the source spreads them over the threads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import dnsPacket from 'dns-packet';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { defaultWorkers, usableCores } from '../../src/defaults.js';
import { Registry } from '../../src/metrics.js';
import {
  buildTableRecords,
  diffTables,
  NameTable,
  type TableScope,
  timeSlicer,
} from '../../src/nametable/index.js';
import { resolveUdpIo, udpReusePort } from '../../src/server/index.js';
import { encodeQuery, rcodeOf, sendUdp } from '../helpers/dns-client.js';
import { captureLogs } from '../helpers/log-capture.js';
import { runCli, serveExamples } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { sampleMesh, service } from '../helpers/resources.js';
import { deadAddress, type RawDns, startRawDns } from '../helpers/stub-dns.js';
import { UDP_PATHS } from '../helpers/udp-io.js';

const SCOPE: TableScope = { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] };
const PRODUCTPAGE = 'productpage.default.svc.cluster.local';
/** Client sockets per round: with two sockets in the group, all 40 hashed to one is a 2^-39 chance. */
const CLIENTS = 40;
const AA = 0x0400;

/** The first A record's address of a reply, or undefined (dns-packet would be more, this is enough). */
function firstA(reply: Buffer): string | undefined {
  const an = reply.readUInt16BE(6);
  if (an === 0) return undefined;
  // The question is the one asked: skip header, name, type and class; then the answer's name pointer.
  let at = 12;
  while (reply[at] !== 0) at += reply[at] + 1;
  at += 5;
  for (let i = 0; i < an; i++) {
    const type = reply.readUInt16BE(at + 2);
    const len = reply.readUInt16BE(at + 10);
    if (type === 1 && len === 4) return [...reply.subarray(at + 12, at + 16)].join('.');
    at += 12 + len;
  }
  return undefined;
}

/** One query of `name` from each of CLIENTS fresh sockets; the replies, or the error of any unanswered. */
async function round(port: number, name: string): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      sendUdp(port, encodeQuery(name, 'A', { id: i + 1 }), { timeoutMs: 2000 }),
    ),
  );
}

/** True when every reply is an authoritative table answer with `address`. */
const allFromTable = (replies: Buffer[], address: string) =>
  replies.every((r) => (r.readUInt16BE(2) & AA) !== 0 && firstA(r) === address);

/** Rounds until every client gets `address` from the table (every thread has the table); bounded. */
async function untilEveryThreadAnswers(port: number, name: string, address: string): Promise<number> {
  let sent = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    const replies = await round(port, name);
    sent += replies.length;
    if (allFromTable(replies, address)) return sent;
    await sleep(100);
  }
  assert.fail(`not every thread answered ${name} with ${address} from the table`);
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A metric's value as the registry prints it (unlabelled). */
async function metric(registry: Registry, name: string): Promise<number> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in the metrics`);
  return Number(line.split(' ')[1]);
}

describe('answering workers (--workers 2, native UDP path)', {
  skip: UDP_PATHS.includes('native') ? false : 'the native batch socket is not built here',
}, () => {
  let agent: Agent;
  const registry = new Registry();
  const logs = captureLogs();
  const table = NameTable.fromRecords(buildTableRecords(sampleMesh(), SCOPE));
  let sent = 0;

  before(async () => {
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      // Nothing answers there: a query a thread could not answer from its table would get SERVFAIL.
      upstreams: [await deadAddress()],
      upstreamTimeoutMs: 300,
      logger: logs.logger,
      registry,
      udp: { io: 'native' },
      workers: 2,
      // Long enough to see the other threads answer while a dead worker is down.
      workerRestartDelayMs: 3000,
    });
    await agent.start();
    agent.setTable(table);
  });

  after(() => agent?.close());

  it('answers from the table on every thread, and the metrics add the threads up', async () => {
    sent += await untilEveryThreadAnswers(agent.port, PRODUCTPAGE, '10.96.0.10');
    await agent.refreshWorkers();
    const status = agent.threadStatus();
    assert.equal(status.running, 2);
    const [main, worker] = status.udpDatagrams ?? [];
    assert.ok((main ?? 0) > 0 && (worker ?? 0) > 0, `both threads received queries: ${status.udpDatagrams}`);
    assert.equal(await metric(registry, 'meshdns_udp_datagrams_total'), sent);
    assert.equal(await metric(registry, 'dns_requests_total'), sent);
    assert.equal(await metric(registry, 'meshdns_answering_threads'), 2);
  });

  it('hands each new table to the workers as the diff the main thread applied', async () => {
    const res = sampleMesh();
    res.services.push(service('default', 'ratings', ['10.96.0.77']));
    const diff = diffTables(buildTableRecords(sampleMesh(), SCOPE), buildTableRecords(res, SCOPE));
    assert.equal(diff.remove.length, 0);
    const next = await table.withDiff(structuredClone(diff), timeSlicer(4));
    agent.setTable(next, 0, { diff, packed: [] });
    sent += await untilEveryThreadAnswers(agent.port, 'ratings.default.svc.cluster.local', '10.96.0.77');
  });

  it("replaces a worker's table whole when the main thread swaps one in without its diff", async () => {
    const res = sampleMesh();
    res.services.push(service('default', 'details', ['10.96.0.88']));
    const other = NameTable.fromRecords(buildTableRecords(res, SCOPE));
    agent.setTable(other);
    sent += await untilEveryThreadAnswers(agent.port, 'details.default.svc.cluster.local', '10.96.0.88');
    // ratings came by a diff into every copy; the whole table has no ratings: no thread keeps it.
    const replies = await round(agent.port, 'ratings.default.svc.cluster.local');
    sent += replies.length;
    assert.ok(
      replies.every((r) => (r.readUInt16BE(2) & AA) === 0),
      'ratings is no longer answered from any table',
    );
    // Back to the table with ratings, for the test below.
    const res2 = sampleMesh();
    res2.services.push(service('default', 'ratings', ['10.96.0.77']));
    agent.setTable(NameTable.fromRecords(buildTableRecords(res2, SCOPE)));
    sent += await untilEveryThreadAnswers(agent.port, 'ratings.default.svc.cluster.local', '10.96.0.77');
  });

  it('logs, counts and restarts a worker that dies; the main thread answers meanwhile', async () => {
    const before = await metric(registry, 'dns_requests_total');
    agent.workers!.crash(1);
    await until('the worker to exit', () => agent.threadStatus().running === 1);
    // Down for the restart delay: every client is answered, from the table, by the thread left.
    const meanwhile = await round(agent.port, PRODUCTPAGE);
    sent += meanwhile.length;
    assert.ok(allFromTable(meanwhile, '10.96.0.10'));
    assert.equal(agent.threadStatus().running, 1, 'answered before the worker came back');
    assert.ok(
      logs.lines.some((l) => l.worker === 1 && /answering worker failed/.test(String(l.msg))),
      'the failure logged',
    );
    assert.ok(
      logs.lines.some((l) => l.worker === 1 && /answering worker exited; restarting it/.test(String(l.msg))),
      'the restart logged',
    );
    assert.equal(await metric(registry, 'meshdns_answering_worker_restarts_total'), 1);
    assert.ok((await metric(registry, 'dns_requests_total')) >= before, 'the counts never go back');

    await until('the worker to be back', () => agent.threadStatus().running === 2);
    // The new worker began with the whole table (names added by a diff included) and answers from it.
    sent += await untilEveryThreadAnswers(agent.port, 'ratings.default.svc.cluster.local', '10.96.0.77');
    await agent.refreshWorkers();
    const [, worker] = agent.threadStatus().udpDatagrams ?? [];
    assert.ok((worker ?? 0) > 0, 'the restarted worker receives queries');
    assert.equal(await metric(registry, 'meshdns_answering_threads'), 2);
  });
});

describe('a restart with answering workers (--workers 2, native UDP path)', {
  skip: UDP_PATHS.includes('native') ? false : 'the native batch socket is not built here',
}, () => {
  const agents: Agent[] = [];
  let upstream: RawDns | undefined;
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await upstream?.close();
  });
  const NAMES = Array.from({ length: CLIENTS }, (_, i) => `n${i}.restart.test`);

  function agentOn(port: number, server: { host: string; port: number }): Agent {
    const a = new Agent({
      listen: { host: '127.0.0.1', port },
      upstreams: [server],
      upstreamTimeoutMs: 1000,
      logger: pino({ level: 'silent' }),
      udp: { io: 'native' },
      workers: 2,
      sharePort: 'agent:restart-test',
    });
    agents.push(a);
    return a;
  }

  it("hands every thread's socket over (no query lost) and every thread's cache to the successor", async () => {
    // Answers `around…` names 300 ms late: the old threads still wait for them when they hand over.
    upstream = await startRawDns((msg, reply) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions?.[0]?.name ?? '';
      const answer = dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions,
        answers: [{ name, type: 'A', ttl: 300, data: '198.51.100.1' }],
      });
      if (name.startsWith('around')) setTimeout(() => reply(answer), 300);
      else reply(answer);
    });
    const server = { host: upstream.host, port: upstream.port };
    const port = await freePort('127.0.0.1');
    const old = agentOn(port, server);
    await old.start();
    // Each name from a socket of its own: the kernel spreads them over both threads' caches.
    await Promise.all(NAMES.map((n, i) => sendUdp(port, encodeQuery(n, 'A', { id: i + 1 }))));
    await old.refreshWorkers();
    assert.ok(
      (old.threadStatus().udpDatagrams ?? []).every((d) => (d ?? 0) > 0),
      'both threads asked',
    );

    const next = agentOn(port, server);
    await next.start();
    // Sent before the hand-over, answered upstream only after it started: each of the old process's
    // threads answers those it took once the upstream does (before, a worker closed with them unanswered).
    // (Other names than NAMES: the successor, which answers some of these, never asks NAMES upstream.)
    const around = Array.from({ length: 200 }, (_, i) =>
      sendUdp(port, encodeQuery(`around${i}.restart.test`, 'A', { id: i + 1 }), { timeoutMs: 3000 }),
    );
    await sleep(100);
    const handedOver = old.handOver();
    const answered = await Promise.allSettled(around);
    await handedOver;
    const lost = answered.filter((r) => r.status === 'rejected').length;
    assert.equal(lost, 0, `${lost} of 200 lost`);

    const dump = old.cacheDump();
    const names = new Set(
      dump.map((e) => dnsPacket.decode(Buffer.from(e.body, 'base64')).questions?.[0]?.name),
    );
    for (const n of NAMES) assert.ok(names.has(n), `${n}: every thread's entries are in the snapshot`);

    // The successor puts them into every thread's cache: with the upstream gone, any client gets them.
    await upstream.close();
    upstream = undefined;
    const restored = await next.restoreCache(dump, 1000);
    // Skipped: an `around` name the successor had answered itself, fresher.
    const { restored: put = 0, skipped = 0 } = restored ?? {};
    assert.equal(put + skipped, dump.length, JSON.stringify(restored));
    assert.ok(put >= NAMES.length, JSON.stringify(restored));
    await sleep(200);
    const replies = await Promise.all(NAMES.map((n, i) => sendUdp(port, encodeQuery(n, 'A', { id: i + 1 }))));
    const got = replies.map((r) => {
      const answer = dnsPacket.decode(r).answers?.[0];
      return `${rcodeOf(r)}/${answer?.type === 'A' ? answer.data : undefined}`;
    });
    assert.deepEqual(
      got,
      NAMES.map(() => '0/198.51.100.1'),
      'every name answered from a cache, on whichever thread',
    );
  });
});

describe('answering workers on node:dgram', () => {
  it('share the port where node:dgram has reusePort, else one thread answers and says why', async () => {
    const agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [await deadAddress()],
      upstreamTimeoutMs: 300,
      logger: pino({ level: 'silent' }),
      udp: { io: 'dgram' },
      workers: 2,
    });
    try {
      await agent.start();
      agent.setTable(NameTable.fromRecords(buildTableRecords(sampleMesh(), SCOPE)));
      const lacking = udpReusePort(resolveUdpIo('dgram'));
      const status = agent.threadStatus();
      assert.equal(status.asked, 2);
      assert.equal(status.running, lacking === undefined ? 2 : 1);
      assert.equal(status.reason, lacking);
      await untilEveryThreadAnswers(agent.port, PRODUCTPAGE, '10.96.0.10');
    } finally {
      await agent.close();
    }
  });
});

describe('--workers', () => {
  const examples = serveExamples('workers-flag-test');
  for (const value of ['0', '1025', 'two']) {
    it(`refuses ${value}, naming the flag and the range`, async () => {
      const r = await runCli([...examples.args(), '--dns-listen', '127.0.0.1:0', '--workers', value]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`MESHDNS_FLAG_INVALID: --workers "${value}": .*from 1 to 1024`));
    });
  }

  it('defaults to 1 on 2 cores or fewer, one per core but one above', () => {
    assert.deepEqual(
      [1, 2, 3, 8, 32].map((cores) => defaultWorkers(cores)),
      [1, 1, 2, 7, 31],
    );
  });

  it('counts the cores a cgroup CPU quota leaves (a pod CPU limit), rounded up', () => {
    const files = (f: Record<string, string>) => (name: string) => {
      if (f[name] === undefined) throw new Error(`ENOENT ${name}`);
      return f[name];
    };
    const cases: [string, Record<string, string>, number][] = [
      ['no cgroup files', {}, 32],
      ['v2 without a limit', { '/sys/fs/cgroup/cpu.max': 'max 100000\n' }, 32],
      ['v2, 1.5 CPUs', { '/sys/fs/cgroup/cpu.max': '150000 100000\n' }, 2],
      ['v2, 500m', { '/sys/fs/cgroup/cpu.max': '50000 100000\n' }, 1],
      [
        'v1, 4 CPUs',
        {
          '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '400000\n',
          '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
        },
        4,
      ],
      [
        'v1 without a limit',
        {
          '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
          '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
        },
        32,
      ],
      ['v2, more than the affinity', { '/sys/fs/cgroup/cpu.max': '6400000 100000' }, 32],
    ];
    for (const [what, f, cores] of cases) assert.equal(usableCores(32, files(f)), cores, what);
  });
});
