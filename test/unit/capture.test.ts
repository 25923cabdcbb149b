import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CaptureOptions, capturePlan, removalPlan, shellLine } from '../../src/capture/index.js';

const base: CaptureOptions = {
  agentPort: 15053,
  agentUid: 1337,
  dnsServers: [],
  vipRanges: { v4: '240.240.0.0/16', v6: '2001:2::/48' },
};
const lines = (o: CaptureOptions) => capturePlan(o).map(shellLine);

describe('capture plan', () => {
  it('redirects all DNS over UDP and TCP to the agent, after letting the agent out', () => {
    const all = lines(base);
    const nat = all.filter((l) => l.startsWith('iptables -t nat -A MESHDNS_DNS'));
    assert.deepEqual(nat, [
      'iptables -t nat -A MESHDNS_DNS -m owner --uid-owner 1337 -j RETURN',
      'iptables -t nat -A MESHDNS_DNS -p udp --dport 53 -j REDIRECT --to-ports 15053',
      'iptables -t nat -A MESHDNS_DNS -p tcp --dport 53 -j REDIRECT --to-ports 15053',
    ]);
    assert.ok(all.includes('ip route replace local 240.240.0.0/16 dev lo'));
    assert.ok(all.includes('ip -6 route replace local 2001:2::/48 dev lo'));
  });

  it('puts the two UDP legs in separate conntrack zones', () => {
    const raw = lines({ ...base, agentGid: 1337 }).filter((l) => l.startsWith('iptables -t raw -A MESHDNS'));
    assert.deepEqual(raw, [
      'iptables -t raw -A MESHDNS_CT_OUT -p udp --dport 53 -m owner --uid-owner 1337 -j CT --zone 1',
      'iptables -t raw -A MESHDNS_CT_OUT -p udp --sport 15053 -m owner --uid-owner 1337 -j CT --zone 2',
      'iptables -t raw -A MESHDNS_CT_OUT -m owner --uid-owner 1337 -j RETURN',
      'iptables -t raw -A MESHDNS_CT_OUT -p udp --dport 53 -m owner --gid-owner 1337 -j CT --zone 1',
      'iptables -t raw -A MESHDNS_CT_OUT -p udp --sport 15053 -m owner --gid-owner 1337 -j CT --zone 2',
      'iptables -t raw -A MESHDNS_CT_OUT -m owner --gid-owner 1337 -j RETURN',
      'iptables -t raw -A MESHDNS_CT_OUT -p udp --dport 53 -j CT --zone 2',
      'iptables -t raw -A MESHDNS_CT_PRE -p udp --sport 53 -j CT --zone 1',
    ]);
  });

  it('captures only the listed servers, each in its own family', () => {
    const all = lines({ ...base, dnsServers: ['10.96.0.10', 'fd00::a'] });
    const redirects = all.filter((l) => l.includes('REDIRECT'));
    assert.deepEqual(redirects, [
      'iptables -t nat -A MESHDNS_DNS -p udp -d 10.96.0.10 --dport 53 -j REDIRECT --to-ports 15053',
      'iptables -t nat -A MESHDNS_DNS -p tcp -d 10.96.0.10 --dport 53 -j REDIRECT --to-ports 15053',
      'ip6tables -t nat -A MESHDNS_DNS -p udp -d fd00::a --dport 53 -j REDIRECT --to-ports 15053',
      'ip6tables -t nat -A MESHDNS_DNS -p tcp -d fd00::a --dport 53 -j REDIRECT --to-ports 15053',
    ]);
  });

  it('removal undoes every jump, chain and route the install adds', () => {
    const install = capturePlan({ ...base, agentGid: 7 });
    const removal = removalPlan({ ...base, agentGid: 7 }).map((s) => s.argv.join(' '));
    for (const { argv } of install) {
      const [tool, , table, op, chain, ...rest] = argv;
      if (op === '-N') {
        assert.ok(removal.includes(`${tool} -t ${table} -X ${chain}`), `no -X for ${chain}`);
        assert.ok(removal.includes(`${tool} -t ${table} -F ${chain}`), `no -F for ${chain}`);
      } else if (op === '-A' && !chain.startsWith('MESHDNS')) {
        assert.ok(
          removal.includes(`${tool} -t ${table} -D ${chain} ${rest.join(' ')}`),
          `no -D for ${argv.join(' ')}`,
        );
      } else if (tool === 'ip') {
        assert.ok(
          removal.includes(argv.join(' ').replace('replace', 'del')),
          `no route del for ${argv.join(' ')}`,
        );
      }
    }
    assert.ok(
      removalPlan(base).every((s) => s.ignoreFailure),
      'removing what is not there is not an error',
    );
  });
});
