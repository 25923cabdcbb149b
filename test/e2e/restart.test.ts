// Restarts with a warm cache (issue 14 item 3), as an operator does one: real `meshdns serve` and
// `meshdns agent` processes, a real dnsmasq upstream on loopback, dnsperf and dig as the clients. A second
// process starts on the port of a running one, the first gets SIGTERM: dnsperf, running through it all,
// loses no query, and the second answers from the first one's cache with the upstream stopped. An agent
// restarted while its controller is down answers mesh names from its predecessor's table.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadAddon } from '../../src/netio/addon.js';
import { nodeHasReusePort } from '../../src/server/reuse-port.js';
import { DIG_MISSING, dig, haveDig } from '../helpers/dig.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, freePort, startDnsmasq } from '../helpers/dnsmasq.js';
import { tempFolder } from '../helpers/manifests.js';
import { type Running, startCli, waitForOutput } from '../helpers/meshdns.js';

const run = promisify(execFile);
const haveDnsperf = await run('dnsperf', ['-h']).then(
  () => true,
  (e: { stdout?: string; stderr?: string }) => /dnsperf/.test(`${e.stdout}${e.stderr}`),
);
const why = !dnsmasqPath()
  ? DNSMASQ_MISSING
  : !(await haveDig())
    ? DIG_MISSING
    : !haveDnsperf
      ? 'dnsperf not installed: apt-get install dnsperf'
      : undefined;

// The no-addon pass of .ci/run on Node 20: neither socket can join the port's SO_REUSEPORT group.
const notShared =
  loadAddon().binding === undefined && !nodeHasReusePort()
    ? `no port to share on Node ${process.versions.node} without the netio addon (node:dgram has reusePort from 22.12; README "Restarts")`
    : undefined;

const running: Running[] = [];
let upstream: Dnsmasq | undefined;
// The processes stop once the file's tests are done (tempFolder's folder goes when the process exits).
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await upstream?.stop();
});
const tmp = tempFolder('meshdns-restart-');
const S = 'default.svc.cluster.local';
/** Lookups of one name, each from its own client port (spread over the answering threads). */
const ASKS = 8;

function start(args: string[], env?: Record<string, string>): Running {
  const r = startCli(args, env ? { env } : {});
  running.push(r);
  return r;
}

/** dnsperf at a fixed rate for `seconds`, from 8 client sockets (the kernel spreads them over both processes). */
async function dnsperf(
  port: number,
  seconds: number,
): Promise<{ sent: number; lost: number; output: string }> {
  const queries = join(tmp(), 'queries.txt');
  await writeFile(
    queries,
    ['www.test A', 'api.test A', `productpage.${S} A`, 'db-a.example.com A'].join('\n'),
  );
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queries, '-l', String(seconds)];
  const { stdout } = await run('dnsperf', [...args, '-Q', '300', '-c', '8', '-t', '3'], { timeout: 60_000 });
  const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(stdout)?.[1]);
  return { sent: num('Queries sent'), lost: num('Queries lost'), output: stdout };
}

describe('restart on one port: a real dnsmasq upstream, dnsperf and dig', { skip: why }, () => {
  // With --workers 2 each answering worker hands its socket over and its cache joins the snapshot, and the
  // new process puts it into every thread's cache: the kernel spreads clients over threads as it likes.
  for (const workers of [1, 2]) {
    it(`serve --workers ${workers}: dnsperf loses no query through a restart; the new process answers from the old cache`, {
      skip: notShared,
    }, async () => {
      await upstream?.stop();
      upstream = await startDnsmasq({
        hosts: {
          'www.test': ['198.51.100.7'],
          'api.test': ['198.51.100.8'],
          'seen-once.test': ['198.51.100.9'],
        },
        extra: ['--local-ttl=300'],
      });
      const port = await freePort('127.0.0.1');
      const args = [
        ...['serve', '--manifests', 'examples', '--dns-listen', `127.0.0.1:${port}`, '--search', S],
        ...['--upstream', `${upstream.address}:${upstream.port}`],
        ...['--state-file', join(tmp(), `state-${workers}.json`), '--workers', String(workers)],
      ];
      const first = start(args);
      await waitForOutput(first, /"msg":"serving DNS"/);
      // Asked of the first only: the second can answer it later only from the first one's snapshot. Each
      // dig comes from a port of its own, so with workers the answer is cached on more than one thread.
      for (let i = 0; i < ASKS; i++) {
        assert.equal((await dig('127.0.0.1', port, 'seen-once.test')).answers[0]?.data, '198.51.100.9');
      }

      const second = start(args);
      await waitForOutput(second, /"msg":"UDP answered/);
      const load = dnsperf(port, 4);
      // dnsperf's run is under way (both answer) when the first is told to stop.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await first.stop(), 0, first.output());
      const perf = await load;
      assert.ok(perf.sent > 500, perf.output);
      assert.equal(perf.lost, 0, perf.output);
      assert.match(first.output(), /"msg":"snapshot written"/);
      await waitForOutput(second, /"msg":"snapshot loaded/);
      await waitForOutput(second, /"msg":"serving DNS"/);

      await upstream.stop();
      // Whichever of the second's threads a client lands on has the answer.
      for (let i = 0; i < ASKS; i++) {
        const cached = await dig('127.0.0.1', port, 'seen-once.test');
        assert.equal(cached.status, 'NOERROR', cached.output);
        assert.equal(cached.answers[0]?.data, '198.51.100.9');
        assert.ok(cached.answers[0]!.ttl < 300, 'its TTL counted down across the restart');
      }
      const tcp = await dig('127.0.0.1', port, 'seen-once.test', 'A', ['+tcp']);
      assert.equal(tcp.answers[0]?.data, '198.51.100.9', 'over TCP too');
      assert.equal(await second.stop(), 0);
    });
  }

  it('agent: restarted while the controller is down, it answers mesh names from its snapshot', async () => {
    const xds = await freePort('127.0.0.1');
    const controller = start([
      ...['controller', '--manifests', 'examples', '--xds-listen', `127.0.0.1:${xds}`],
      ...['--state-file', join(tmp(), 'controller.json')],
    ]);
    await waitForOutput(controller, /"msg":"controller ready"/);
    const port = await freePort('127.0.0.1');
    const args = [
      ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
      ...['--upstream', '127.0.0.1:9', '--upstream-timeout', '300', '--search', S],
      ...['--snapshot-file', join(tmp(), 'agent.snapshot.json')],
    ];
    const env = { POD_NAME: 'app-1', POD_NAMESPACE: 'default', ISTIO_META_DNS_CAPTURE: 'true' };
    const first = start(args, env);
    await waitForOutput(first, /"msg":"serving DNS"/);
    assert.equal((await dig('127.0.0.1', port, 'db-a.example.com')).answers[0]?.data, '240.240.0.1');
    assert.equal(await first.stop(), 0, first.output());
    assert.equal(await controller.stop(), 0);

    const second = start(args, env);
    await waitForOutput(second, /"msg":"snapshot loaded/);
    for (const [name, ip] of [
      ['db-a.example.com', '240.240.0.1'],
      ['productpage', '10.96.0.10'],
    ]) {
      const r = await dig('127.0.0.1', port, name!);
      assert.equal(r.answers.at(-1)?.data, ip, r.output);
    }
    assert.doesNotMatch(second.output(), /"msg":"serving DNS"/, 'no table from the controller');
    assert.equal(await second.stop(), 0);
  });
});
