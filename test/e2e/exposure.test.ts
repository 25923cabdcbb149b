// End to end (SPEC §10, issue 8 finding 12): `serve` on 0.0.0.0 is not an open resolver. Real `dig` from
// two loopback source addresses, a real dnsmasq upstream: the allowed client gets forwarded answers, the
// other gets REFUSED for table and forwarded names alike, over UDP and TCP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DIG_MISSING, dig, haveDig } from '../helpers/dig.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, freePort, startDnsmasq } from '../helpers/dnsmasq.js';
import { type Running, serveExamples, startCli, waitForOutput } from '../helpers/meshdns.js';

const why = !dnsmasqPath() ? DNSMASQ_MISSING : !(await haveDig()) ? DIG_MISSING : undefined;
const S = 'default.svc.cluster.local';
const serve = serveExamples('e2e-exposure');

describe('meshdns serve --dns-listen 0.0.0.0 --allow-from 127.0.0.2/32', { skip: why }, () => {
  let upstream: Dnsmasq;
  let agent: Running;
  let port: number;

  before(async () => {
    upstream = await startDnsmasq({
      address: '127.0.0.253',
      domain: 'example.org',
      hosts: { 'www.example.org': ['203.0.113.5'] },
    });
    port = await freePort('127.0.0.1');
    agent = startCli([
      ...serve.args(`${upstream.address}:${upstream.port}`),
      '--dns-listen',
      `0.0.0.0:${port}`,
      '--allow-from',
      '127.0.0.2/32',
    ]);
    await waitForOutput(agent, /serving DNS/);
  });

  after(async () => {
    assert.equal(await agent?.stop(), 0, 'SIGTERM exits 0');
    await upstream?.stop();
  });

  const cases: { from: string; name: string; status: string; want: string[] }[] = [
    { from: '127.0.0.2', name: 'www.example.org', status: 'NOERROR', want: ['203.0.113.5'] },
    { from: '127.0.0.2', name: `productpage.${S}`, status: 'NOERROR', want: ['10.96.0.10'] },
    { from: '127.0.0.3', name: 'www.example.org', status: 'REFUSED', want: [] },
    { from: '127.0.0.3', name: `productpage.${S}`, status: 'REFUSED', want: [] },
    { from: '127.0.0.1', name: 'www.example.org', status: 'REFUSED', want: [] },
  ];
  for (const c of cases) {
    for (const tcp of [false, true]) {
      it(`dig -b ${c.from} ${c.name}${tcp ? ' +tcp' : ''} → ${c.status}`, async () => {
        const r = await dig('127.0.0.1', port, c.name, 'A', ['-b', c.from, ...(tcp ? ['+tcp'] : [])]);
        assert.equal(r.status, c.status, r.output);
        assert.deepEqual(
          r.answers.filter((a) => a.type === 'A').map((a) => a.data),
          c.want,
        );
      });
    }
  }
});
