// `meshdns serve` exposure and limits as a user meets them (SPEC §10, issue 8 findings 12 and 13): no open
// resolver without --allow-from, REFUSED outside it; the TCP connection cap counted and logged once per burst.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, describe, it } from 'node:test';
import { ask, encodeQuery, idleTcpConnection, rcodeOf, sendTcp, sendUdp } from '../helpers/dns-client.js';
import {
  eventually,
  type Running,
  runCli,
  serveExamples,
  startCli,
  waitForOutput,
} from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const S = 'default.svc.cluster.local';
const NAME = `productpage.${S}`;
/** The examples, with an upstream nobody answers on and a state file outside the checkout. */
const SERVE = serveExamples('exposure-test').args();
const REFUSED = 5;

/** The exit code, or a failed assertion (and the process stopped) if it is still running after `ms`. */
async function exitWithin(run: Running, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | null>((resolve) => run.child.once('exit', (c) => resolve(c))),
    new Promise<'running'>((resolve) => {
      timer = setTimeout(() => resolve('running'), ms);
    }),
  ]);
  clearTimeout(timer);
  if (code === 'running') {
    await run.stop();
    assert.fail(`serve still running after ${ms} ms:\n${run.output()}`);
  }
  return code;
}

describe('meshdns serve: a non-loopback DNS listener (SPEC §10)', () => {
  it('without --allow-from: exits non-zero before listening, says why and what to pass', async () => {
    const port = await freePort('127.0.0.1');
    const run = startCli([...SERVE, '--dns-listen', `0.0.0.0:${port}`]);
    const code = await exitWithin(run, 8000);
    assert.notEqual(code, 0);
    assert.match(run.output(), /--dns-listen "0\.0\.0\.0:\d+".*--allow-from/);
    assert.doesNotMatch(run.output(), /serving DNS/);
  });

  // The table of bad values is in test/unit/serve-limits.test.ts; here, that the CLI reports one.
  it('--allow-from 10.0.0.0/33: exits non-zero naming the flag and the value', async () => {
    const r = await runCli([...SERVE, '--dns-listen', '0.0.0.0:0', '--allow-from', '10.0.0.0/33']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /MESHDNS_FLAG_INVALID: --allow-from "10\.0\.0\.0\/33": prefix length/);
  });

  describe('with --allow-from 127.0.0.2/32', () => {
    let run: Running;
    let port: number;
    after(() => run?.stop());

    const cases: { client: string; proto: 'udp' | 'tcp'; rcode: number; answers: number }[] = [
      { client: '127.0.0.1', proto: 'udp', rcode: REFUSED, answers: 0 },
      { client: '127.0.0.1', proto: 'tcp', rcode: REFUSED, answers: 0 },
      { client: '127.0.0.2', proto: 'udp', rcode: 0, answers: 1 },
      { client: '127.0.0.2', proto: 'tcp', rcode: 0, answers: 1 },
    ];
    for (const c of cases) {
      it(`a ${c.proto.toUpperCase()} query from ${c.client} gets rcode ${c.rcode}`, async () => {
        if (run === undefined) {
          port = await freePort('127.0.0.1');
          run = startCli([...SERVE, '--dns-listen', `0.0.0.0:${port}`, '--allow-from', '127.0.0.2/32']);
          await waitForOutput(run, /serving DNS/);
        }
        const reply = await ask(c.proto, port, NAME, 'A', { id: 77, localAddress: c.client });
        assert.equal(reply.id, 77);
        assert.equal(rcodeOf(reply.raw), c.rcode);
        assert.equal(reply.answers?.length ?? 0, c.answers);
      });
    }
  });
});

describe('meshdns serve: limit flags', () => {
  it('--tcp-idle-timeout 3000000000: exits non-zero naming the flag and the value', async () => {
    const r = await runCli([...SERVE, '--dns-listen', '127.0.0.1:0', '--tcp-idle-timeout', '3000000000']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--tcp-idle-timeout "3000000000": expected a whole number from 1 to 2147483647/);
  });

  it('serve --help lists every limit flag', async () => {
    const r = await runCli(['serve', '--help']);
    for (const flag of [
      '--allow-from',
      '--tcp-max-connections',
      '--tcp-max-in-flight',
      '--tcp-max-queued-bytes',
      '--tcp-idle-timeout',
      '--upstream-max-in-flight',
    ]) {
      assert.match(r.stdout, new RegExp(flag));
    }
  });
});

/** The value of one sample line of the Prometheus text; 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('meshdns serve --tcp-max-connections 20', () => {
  const conns: net.Socket[] = [];
  let run: Running | undefined;
  after(async () => {
    for (const c of conns) c.destroy();
    await run?.stop();
  });

  it('at the cap the idlest connection is closed, counted, and logged once for the burst', async () => {
    const port = await freePort('127.0.0.1');
    const adminPort = await freePort('127.0.0.1');
    run = startCli([
      ...SERVE,
      '--dns-listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
      '--tcp-max-connections',
      '20',
    ]);
    await waitForOutput(run, /serving DNS/);
    for (let i = 0; i < 20; i++) conns.push(await idleTcpConnection(port, NAME, i));
    const first = new Promise<void>((resolve) => conns[0].once('close', () => resolve()));
    // A burst of 5 new clients, each kept open: each finds the server at the cap.
    for (let n = 0; n < 5; n++) conns.push(await idleTcpConnection(port, NAME, 100 + n));
    await first;
    // UDP and a short TCP exchange are answered as usual.
    assert.equal(rcodeOf(await sendUdp(port, encodeQuery(NAME, 'A'))), 0);
    assert.equal(rcodeOf((await sendTcp(port, [encodeQuery(NAME, 'A')]))[0]), 0);

    await eventually(async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      assert.equal(sample(metrics, 'meshdns_limit_reached_total{limit="tcp_connections"}'), 6);
    });
    const lines = run
      .output()
      .split('\n')
      .filter((l) => l.includes('--tcp-max-connections'));
    assert.equal(lines.length, 1, `one log line for the burst:\n${lines.join('\n')}`);
  });
});
