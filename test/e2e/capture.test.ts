// `meshdns capture` against real iptables and routes, inside a network namespace the test creates.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BIN } from '../helpers/meshdns.js';
import { canMakeNetns, createNetns, type Netns } from '../helpers/netns.js';

const FLAGS = ['--agent-port', '15053', '--agent-uid', '1337', '--agent-gid', '1337'];

describe('meshdns capture in a network namespace', { skip: canMakeNetns() }, () => {
  let ns: Netns;
  const capture = (...args: string[]) => ns.exec([process.execPath, BIN, 'capture', ...args, ...FLAGS]);
  const rules = async () => {
    const v4 = (await ns.exec(['iptables-save'])).stdout;
    const v6 = (await ns.exec(['ip6tables-save'])).stdout;
    return `${v4}\n${v6}`.split('\n').filter((l) => l.includes('MESHDNS'));
  };
  const localRoutes = async () =>
    `${(await ns.exec(['ip', 'route', 'show', 'table', 'local'])).stdout}${(await ns.exec(['ip', '-6', 'route', 'show', 'table', 'local'])).stdout}`;

  before(async () => {
    ns = await createNetns();
  });
  after(() => ns?.remove());

  it('--apply installs the rules and the VIP routes, and is idempotent', async () => {
    await capture('--apply');
    const once = await rules();
    assert.ok(
      once.some((l) => /-A OUTPUT -p udp -m udp --dport 53 -j MESHDNS_DNS/.test(l)),
      once.join('\n'),
    );
    assert.ok(once.some((l) => /REDIRECT --to-ports 15053/.test(l)));
    assert.ok(once.some((l) => /--uid-owner 1337 -j RETURN/.test(l)));
    assert.ok(once.some((l) => /CT --zone 1/.test(l)) && once.some((l) => /CT --zone 2/.test(l)));
    assert.match(await localRoutes(), /local 240\.240\.0\.0\/16 dev lo/);
    assert.match(await localRoutes(), /local 2001:2::\/48 dev lo/);
    await capture('--apply');
    assert.deepEqual(await rules(), once, 'a second --apply leaves one copy');
  });

  it('--remove removes exactly what it added', async () => {
    await ns.exec(['iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '8080', '-j', 'RETURN']);
    await capture('--remove');
    assert.deepEqual(await rules(), []);
    assert.doesNotMatch(await localRoutes(), /240\.240\.0\.0|2001:2::/);
    const nat = (await ns.exec(['iptables-save', '-t', 'nat'])).stdout;
    assert.match(nat, /--dport 8080 -j RETURN/, "someone else's rule stays");
    await capture('--remove');
  });

  it('without root it says so and exits non-zero', async (t) => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const readable = await ns
      .exec([...nobody, 'test', '-r', BIN.replace('bin/meshdns', 'dist/src/cli/main.js')])
      .then(
        () => true,
        () => false,
      );
    if (!readable)
      return t.skip('the checkout is not readable by nobody (uid 65534), so it cannot run unprivileged');
    const err = await ns
      .exec([
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        'capture',
        '--apply',
        ...FLAGS,
      ])
      .then(() => undefined)
      .catch((e: { code?: number; stderr?: string }) => e);
    assert.ok(err, 'must fail');
    assert.notEqual(err.code, 0);
    assert.match(err.stderr ?? '', /needs root/);
  });
});
