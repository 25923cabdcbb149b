// The agent in-process with a real dnsmasq upstream, queried by Node's own resolver (c-ares).
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { buildNameTable } from '../../src/nametable/index.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, freePort, startDnsmasq } from '../helpers/dnsmasq.js';
import { sampleMesh } from '../helpers/resources.js';

const S = 'default.svc.cluster.local';

describe('agent with a dnsmasq upstream, Node resolver as client', {
  skip: dnsmasqPath() ? undefined : DNSMASQ_MISSING,
}, () => {
  let upstream: Dnsmasq;
  let agent: Agent;
  let resolver: Resolver;

  before(async () => {
    upstream = await startDnsmasq({
      hosts: { 'www.test': ['198.51.100.7'], 'productpage.default.svc.cluster.local': ['203.0.113.66'] },
    });
    agent = new Agent({
      listen: { host: '127.0.0.1', port: await freePort('127.0.0.1') },
      upstreams: [{ host: upstream.address, port: upstream.port }],
      upstreamTimeoutMs: 2000,
      logger: pino({ level: 'silent' }),
    });
    await agent.start();
    resolver = new Resolver({ timeout: 3000, tries: 1 });
    resolver.setServers([`127.0.0.1:${agent.port}`]);
  });

  after(async () => {
    await agent?.close();
    await upstream?.stop();
  });

  it('forwards everything before the first table arrives', async () => {
    assert.deepEqual(await resolver.resolve4(`productpage.${S}`), ['203.0.113.66']);
  });

  it('answers from the table once it is set, forwards the rest', async () => {
    agent.setTable(
      buildNameTable(sampleMesh(), {
        namespace: 'default',
        clusterDomain: 'cluster.local',
        searchDomains: [S],
      }),
    );
    assert.deepEqual(await resolver.resolve4(`productpage.${S}`), ['10.96.0.10']);
    assert.deepEqual(await resolver.resolve4('www.test'), ['198.51.100.7']);
    assert.deepEqual((await resolver.resolve4('legacy.internal')).sort(), ['192.0.2.20', '192.0.2.21']);
    assert.deepEqual(await resolver.resolve6('api.partner.com'), ['2001:db8::10']);
  });

  it('passes the upstream NXDOMAIN through', async () => {
    await assert.rejects(resolver.resolve4('missing.test'), { code: 'ENOTFOUND' });
  });

  it('NODATA for a known name of another family', async () => {
    await assert.rejects(resolver.resolve6(`productpage.${S}`), { code: 'ENODATA' });
  });

  it('TTL 30 on table answers', async () => {
    const [rec] = await resolver.resolve4(`productpage.${S}`, { ttl: true });
    assert.equal(rec.ttl, 30);
  });
});
