// The NAT data plane's rules as text (SPEC §6): what iptables-restore is given for each family.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { capturePlan, removalPlan } from '../../src/capture/index.js';
import {
  hasNetAdmin,
  NAT_CHAINS,
  type NatEntry,
  natRemovalArgv,
  parseConntrack,
  readConntrack,
  restoreInput,
} from '../../src/vip/index.js';

const entry = (vip: string, backends: string[], port = 3306): NatEntry => ({
  vip,
  port,
  host: `db.${vip.includes(':') ? 'v6' : 'v4'}.example.com`,
  backends: backends.map((address) => ({ address, port: 13306 })),
});

const rules = (text: string, chain: string) => text.split('\n').filter((l) => l.startsWith(`-A ${chain} `));

describe('NAT rules', () => {
  it('spreads a VIP:port over its backends with kube-proxy probabilities, the last unconditional', () => {
    const text = restoreInput([entry('240.240.0.1', ['10.0.0.1', '10.0.0.2', '10.0.0.3'])], 'v4');
    const dnat = rules(text, NAT_CHAINS.dnat);
    assert.equal(dnat.length, 3);
    assert.match(dnat[0]!, /--probability 0\.3333333333 -j DNAT --to-destination 10\.0\.0\.1:13306$/);
    assert.match(dnat[1]!, /--probability 0\.5000000000 -j DNAT --to-destination 10\.0\.0\.2:13306$/);
    assert.doesNotMatch(dnat[2]!, /statistic/);
    assert.match(dnat[2]!, /^-A MESHDNS_VIP -d 240\.240\.0\.1\/32 -p tcp -m tcp --dport 3306 .*-j DNAT/);
  });

  it('masquerades a VIP once, off loopback only; no backend: a reset in the filter table', () => {
    const text = restoreInput(
      [
        entry('240.240.0.1', ['10.0.0.1']),
        entry('240.240.0.1', ['10.0.0.1'], 5432),
        entry('240.240.0.2', []),
      ],
      'v4',
    );
    assert.deepEqual(rules(text, NAT_CHAINS.snat), [
      '-A MESHDNS_VIP_POST ! -o lo -m conntrack --ctstate DNAT --ctorigdst 240.240.0.1/32 -j MASQUERADE',
    ]);
    assert.deepEqual(rules(text, NAT_CHAINS.reject), [
      '-A MESHDNS_VIP_REJECT -d 240.240.0.2/32 -p tcp -m tcp --dport 3306 -m comment --comment "db.v4.example.com" -j REJECT --reject-with tcp-reset',
    ]);
  });

  it('writes each family its own VIPs, IPv6 endpoints in brackets, and declares (empties) every chain', () => {
    const all = [entry('240.240.0.1', ['10.0.0.1']), entry('2001:2::1', ['2001:db8::7'])];
    const v6 = restoreInput(all, 'v6');
    assert.deepEqual(
      rules(v6, NAT_CHAINS.dnat).map((l) => l.replace(/ -m comment .*? -j/, ' -j')),
      [
        '-A MESHDNS_VIP -d 2001:2::1/128 -p tcp -m tcp --dport 3306 -j DNAT --to-destination [2001:db8::7]:13306',
      ],
    );
    assert.doesNotMatch(v6, /240\.240/);
    for (const chain of Object.values(NAT_CHAINS))
      assert.match(v6, new RegExp(`^:${chain} - \\[0:0\\]$`, 'm'));
    assert.equal(
      restoreInput([], 'v4')
        .split('\n')
        .filter((l) => l.startsWith('-A')).length,
      0,
    );
  });

  it('capture --remove removes the NAT jumps and chains too', () => {
    const o = {
      agentPort: 15053,
      agentUid: 1337,
      dnsServers: [],
      vipRanges: { v4: '240.240.0.0/16', v6: '2001:2::/48' },
    };
    const removal = removalPlan(o).map((s) => s.argv.join(' '));
    for (const argv of natRemovalArgv()) assert.ok(removal.includes(argv.join(' ')), argv.join(' '));
    assert.ok(removal.includes('iptables -w -t nat -D OUTPUT -p tcp -j MESHDNS_VIP'));
    assert.ok(removal.includes('ip6tables -w -t filter -X MESHDNS_VIP_REJECT'));
    assert.ok(!capturePlan(o).some((s) => s.argv.join(' ').includes('MESHDNS_VIP')), 'apply adds none');
  });
});

describe('conntrack counts (nat: connections nothing of ours sees)', () => {
  const TABLE = [
    'ipv4     2 tcp      6 431999 ESTABLISHED src=240.240.0.1 dst=240.240.0.1 sport=40000 dport=3306 src=10.0.0.1 dst=10.0.0.9 sport=13306 dport=40000 [ASSURED] mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 431999 ESTABLISHED src=240.240.0.1 dst=240.240.0.1 sport=40001 dport=3306 src=10.0.0.2 dst=10.0.0.9 sport=13306 dport=40001 [ASSURED] mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 119 TIME_WAIT src=240.240.0.1 dst=240.240.0.1 sport=40002 dport=3306 src=10.0.0.1 dst=10.0.0.9 sport=13306 dport=40002 [ASSURED] mark=0 zone=0 use=2',
    'ipv6     10 tcp      6 431999 ESTABLISHED src=2001:0002:0000:0000:0000:0000:0000:0001 dst=2001:0002:0000:0000:0000:0000:0000:0001 sport=1 dport=3306 src=2001:0db8:0000:0000:0000:0000:0000:0007 dst=2001:0002:0000:0000:0000:0000:0000:0001 sport=13306 dport=1 [ASSURED] mark=0 zone=0 use=2',
    'ipv4     2 udp      17 20 src=10.0.0.9 dst=10.0.0.53 sport=5000 dport=53 src=10.0.0.53 dst=10.0.0.9 sport=53 dport=5000 mark=0 zone=0 use=2',
  ].join('\n');

  it('counts open TCP connections by original destination, IPv6 in its short form', () => {
    assert.deepEqual(
      [...parseConntrack(TABLE)],
      [
        ['240.240.0.1:3306', 2],
        ['[2001:2::1]:3306', 1],
      ],
    );
  });

  it('reads a real file, and says why when there is none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-conntrack-'));
    try {
      await writeFile(join(dir, 'nf_conntrack'), TABLE);
      const got = readConntrack(join(dir, 'nf_conntrack'));
      assert.ok('active' in got && got.active.get('240.240.0.1:3306') === 2);
      const none = readConntrack(join(dir, 'missing'));
      assert.ok('unavailable' in none && /ENOENT/.test(none.unavailable));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CAP_NET_ADMIN from /proc/<pid>/status', () => {
  it('is bit 12 of CapEff', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-caps-'));
    try {
      const status = (capEff: string) => `Name:\tnode\nCapPrm:\t000001ffffffffff\nCapEff:\t${capEff}\n`;
      const file = join(dir, 'status');
      for (const [capEff, want] of [
        ['0000000000001000', true],
        ['000001fffeffffff', true],
        ['0000000000000000', false],
        ['000001ffffffefff', false],
      ] as const) {
        await writeFile(file, status(capEff));
        assert.equal(hasNetAdmin(file), want, capEff);
      }
      assert.equal(hasNetAdmin(join(dir, 'missing')), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
