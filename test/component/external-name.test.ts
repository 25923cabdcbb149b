// SPEC §3.3: an ExternalName Service is answered with a CNAME, and for A/AAAA the agent follows the
// target upstream and appends its records, as CoreDNS does; when upstream has nothing, or fails, the
// CNAME alone goes out (the client's resolver may still chase it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { emptyResources } from '../../src/model/index.js';
import { buildNameTable } from '../../src/nametable/index.js';
import { answersOf, ask, rcodeOf } from '../helpers/dns-client.js';
import { a } from '../helpers/fake-upstream.js';
import { service } from '../helpers/resources.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

const S = 'default.svc.cluster.local';

describe('ExternalName: the CNAME target is followed upstream', () => {
  let stub: StubDns;
  let agent: Agent;

  before(async () => {
    stub = await startStubDns((q) => {
      if (q.name === 'api.example.net' && q.type === 'A')
        return { answers: [a('api.example.net', 60, '203.0.113.5')] };
      if (q.name === 'down.example.net') return 'drop';
      if (q.name === 'api.example.net') return {};
      return { flags: 3 };
    });
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [stub],
      upstreamTimeoutMs: 300,
      logger: pino({ level: 'silent' }),
      cache: false,
    });
    await agent.start();
    const r = emptyResources();
    r.services.push(
      service('default', 'api', [], { externalName: 'api.example.net' }),
      service('default', 'down', [], { externalName: 'down.example.net' }),
      service('default', 'gone', [], { externalName: 'gone.example.net' }),
    );
    agent.setTable(
      buildNameTable(r, { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] }),
    );
  });

  after(async () => {
    await agent?.close();
    await stub?.close();
  });

  const cases: [string, string, string[]][] = [
    [
      'A: CNAME, then the target A records from upstream',
      `api.${S}`,
      [`api.${S} CNAME api.example.net`, 'api.example.net A 203.0.113.5'],
    ],
    ['AAAA with no records upstream: the CNAME alone', `api.${S}`, [`api.${S} CNAME api.example.net`]],
    [
      'upstream silent: the CNAME alone, within the budget',
      `down.${S}`,
      [`down.${S} CNAME down.example.net`],
    ],
    ['target does not exist: the CNAME alone', `gone.${S}`, [`gone.${S} CNAME gone.example.net`]],
  ];
  for (const [name, qname, want] of cases) {
    it(name, async () => {
      const type = name.startsWith('AAAA') ? 'AAAA' : 'A';
      const p = await ask('udp', agent.port, qname, type, { timeoutMs: 2000 });
      assert.equal(rcodeOf(p.raw), 0);
      assert.deepEqual(answersOf(p), want);
    });
  }

  it('MX (not an address): the CNAME alone, nothing asked upstream', async () => {
    const before = stub.queries.length;
    const p = await ask('udp', agent.port, `api.${S}`, 'MX');
    assert.deepEqual(answersOf(p), [`api.${S} CNAME api.example.net`]);
    assert.equal(stub.queries.length, before);
  });
});
