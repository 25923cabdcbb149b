// The NAT data plane's decisions, without root: what it hands iptables (a recording stand-in for the
// iptables binaries, the one thing outside meshdns) for STATIC and DNS routes, when DNS answers run out,
// which VIP:ports fall back to the proxy, and that a restart never adds a second jump. The rules
// themselves meet a real kernel in test/e2e/vip-capture.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import {
  type BackendAnswer,
  NAT_CHAINS,
  type NatCommands,
  NatDataplane,
  VipProxy,
  type VipRoute,
} from '../../src/vip/index.js';

/** iptables as far as the data plane can tell: chains' restore inputs, and which jumps exist. */
class RecordingIptables implements NatCommands {
  readonly restores: { family: string; input: string }[] = [];
  readonly jumps = new Set<string>();
  failRestores = 0;

  async run(argv: string[]): Promise<{ status: number; stderr: string }> {
    const verb = argv.find((a) => ['-C', '-I', '-D', '-F', '-X'].includes(a));
    const key = argv.filter((a) => a !== verb && a !== '1').join(' ');
    if (verb === '-C') return { status: this.jumps.has(key) ? 0 : 1, stderr: '' };
    if (verb === '-I') this.jumps.add(key);
    if (verb === '-D') return { status: this.jumps.delete(key) ? 0 : 1, stderr: '' };
    return { status: 0, stderr: '' };
  }

  async restore(family: 'v4' | 'v6', input: string): Promise<void> {
    if (this.failRestores > 0) {
      this.failRestores--;
      throw new Error('iptables-restore: resource busy');
    }
    this.restores.push({ family, input });
  }

  last(family: string): string {
    return this.restores.filter((r) => r.family === family).at(-1)?.input ?? '';
  }
}

const route = (
  vip: string,
  host: string,
  endpoints: string[],
  resolution: VipRoute['resolution'] = 'STATIC',
): VipRoute => ({
  vip,
  port: 3306,
  host,
  resolution,
  endpoints: endpoints.map((address) => ({ address, port: 3306 })),
  hostPort: 3306,
  origin: `ServiceEntry default/${host}`,
});

const logger = pino({ level: 'silent' });

function plane(iptables: RecordingIptables, answers: Map<string, BackendAnswer>, asked: string[] = []) {
  const fallback = new VipProxy({
    resolve: async (name) => answers.get(name)?.addresses ?? [name],
    connectTimeoutMs: 1000,
    idleTimeoutMs: 5000,
    logger,
  });
  return new NatDataplane({
    lookup: async (name) => {
      asked.push(name);
      return answers.get(name) ?? { addresses: [name], ttlMs: Number.POSITIVE_INFINITY };
    },
    fallback,
    logger,
    commands: iptables,
    conntrackFile: '/nonexistent/nf_conntrack',
  });
}

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

describe('NAT data plane', () => {
  it('writes both families once per change, adds each jump once, removes everything on close', async () => {
    const iptables = new RecordingIptables();
    const nat = plane(iptables, new Map());
    const routes = [route('240.240.0.1', 'db-a.example.com', ['10.0.0.2', '10.0.0.1'])];
    await nat.setRoutes(routes);
    assert.deepEqual(
      iptables.restores.map((r) => r.family),
      ['v4', 'v6'],
    );
    assert.match(
      iptables.last('v4'),
      /--probability 0\.5000000000 -j DNAT --to-destination 10\.0\.0\.1:3306/,
    );
    assert.equal(iptables.jumps.size, 6, [...iptables.jumps].join('\n'));
    await nat.setRoutes([...routes]);
    assert.equal(iptables.restores.length, 2, 'the same rules are not written again');
    const served = nat.served();
    assert.deepEqual(
      served.map((s) => [s.dataplane, s.backends]),
      [['nat', ['10.0.0.1:3306', '10.0.0.2:3306']]],
    );
    assert.ok(served[0]?.conntrack && 'unavailable' in served[0].conntrack);

    // A second agent after a kill -9 finds the jumps in place and adds none.
    const again = plane(iptables, new Map());
    await again.setRoutes(routes);
    assert.equal(iptables.jumps.size, 6);
    await again.close();
    assert.equal(iptables.jumps.size, 0);
    await nat.close();
  });

  it('re-resolves a DNS backend when its TTL runs out and rewrites the rules when the answer changed', async () => {
    const iptables = new RecordingIptables();
    const answers = new Map([['db.example.com', { addresses: ['10.0.0.1'], ttlMs: 30 }]]);
    const asked: string[] = [];
    const nat = plane(iptables, answers, asked);
    try {
      await nat.setRoutes([route('240.240.0.2', 'db.example.com', [], 'DNS')]);
      assert.match(iptables.last('v4'), /--to-destination 10\.0\.0\.1:3306/);
      answers.set('db.example.com', { addresses: ['10.0.0.9'], ttlMs: 60_000 });
      await until(() => /10\.0\.0\.9:3306/.test(iptables.last('v4')), iptables.last('v4'));
      assert.ok(asked.filter((n) => n === 'db.example.com').length >= 2);
    } finally {
      await nat.close();
    }
  });

  it('no backend: refused by a reject rule; other-family backends only: served by the proxy', async () => {
    const iptables = new RecordingIptables();
    const answers = new Map([
      ['gone.example.com', { addresses: [], ttlMs: 1000 }],
      ['v4only.example.com', { addresses: ['10.0.0.5'], ttlMs: 60_000 }],
    ]);
    const nat = plane(iptables, answers);
    try {
      // ::1 is bindable everywhere, so the fallback proxy really listens there.
      await nat.setRoutes([
        route('240.240.0.3', 'gone.example.com', [], 'DNS'),
        { ...route('::1', 'v4only.example.com', [], 'DNS'), port: 0 },
      ]);
      assert.match(
        iptables.last('v4'),
        new RegExp(`-A ${NAT_CHAINS.reject} -d 240\\.240\\.0\\.3/32 .*REJECT`),
      );
      const served = nat.served();
      assert.deepEqual(
        served.map((s) => [s.host, s.dataplane]),
        [
          ['gone.example.com', 'nat'],
          ['v4only.example.com', 'proxy'],
        ],
      );
      assert.doesNotMatch(iptables.last('v6'), /v4only/);
    } finally {
      await nat.close();
    }
  });

  it('a refused update is reported to its caller and retried; the next update still runs', async () => {
    const iptables = new RecordingIptables();
    iptables.failRestores = 1;
    const nat = plane(iptables, new Map());
    try {
      await assert.rejects(
        nat.setRoutes([route('240.240.0.4', 'db.example.com', ['10.0.0.1'])]),
        /resource busy/,
      );
      await nat.setRoutes([route('240.240.0.4', 'db.example.com', ['10.0.0.7'])]);
      assert.match(iptables.last('v4'), /10\.0\.0\.7:3306/);
    } finally {
      await nat.close();
    }
  });
});
