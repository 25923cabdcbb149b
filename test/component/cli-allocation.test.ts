// The CLI for SPEC §2 and §5 as a user runs it: `vips` and `config` (`serve --workload` has its own file).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { runCli } from '../helpers/meshdns.js';

const tmp = tempFolder('meshdns-cli-alloc-');

describe('meshdns vips', () => {
  it('prints host, entry, v4, v6 and state; a fresh allocation is "new"', async () => {
    const { code, stdout, stderr } = await runCli([
      'vips',
      '--manifests',
      'examples',
      '--state-file',
      join(tmp(), 'none.json'),
    ]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^HOST\s+ENTRY\s+V4\s+V6\s+STATE$/);
    assert.ok(
      lines.some((l) => /^db-a\.example\.com\s+default\/db-a\s+240\.240\.0\.1\s+2001:2::1\s+new$/.test(l)),
    );
    assert.ok(
      lines.some((l) => /^db-b\.example\.com\s+default\/db-b\s+240\.240\.0\.2\s+2001:2::2\s+new$/.test(l)),
    );
    assert.ok(
      lines.some((l) => /^api\.partner\.com\s+default\/partner-api\s+-\s+-\s+user-addresses$/.test(l)),
    );
  });

  it('--output json; kept addresses come from the state file', async () => {
    const state = join(tmp(), 'kept.json');
    const kept = {
      namespace: 'default',
      name: 'db-b',
      host: 'db-b.example.com',
      v4: '240.240.0.9',
      v6: '2001:2::9',
    };
    await writeFile(state, JSON.stringify({ version: 1, allocations: [kept] }));
    const { code, stdout } = await runCli([
      'vips',
      '--manifests',
      'examples',
      '--state-file',
      state,
      '--output',
      'json',
    ]);
    assert.equal(code, 0);
    const rows = JSON.parse(stdout) as { host: string; v4: string | null; state: string; from?: string }[];
    const db = (h: string) => rows.find((r) => r.host === h);
    assert.deepEqual(db('db-b.example.com'), {
      host: 'db-b.example.com',
      entry: 'default/db-b',
      v4: '240.240.0.9',
      v6: '2001:2::9',
      state: 'allocated',
      from: 'state-file',
    });
    assert.equal(db('db-a.example.com')?.v4, '240.240.0.1');
    assert.equal(db('legacy.internal')?.v4, null);
  });

  it('a corrupt state file is reported and the allocations are rebuilt', async () => {
    const state = join(tmp(), 'corrupt.json');
    await writeFile(state, '{"version": 1, "allocations": [');
    const { code, stdout, stderr } = await runCli(['vips', '--manifests', 'examples', '--state-file', state]);
    assert.equal(code, 0);
    assert.match(stderr, new RegExp(`^MESHDNS_STATE_INVALID: ${state}: the VIP state file is not JSON`, 'm'));
    assert.match(stdout, /db-a\.example\.com\s+default\/db-a\s+240\.240\.0\.1/);
    assert.equal(await readFile(state, 'utf8'), '{"version": 1, "allocations": [', 'vips writes nothing');
  });

  it('exhaustion: the host is named on stderr and shown as exhausted', async () => {
    const folder = join(tmp(), 'tiny');
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder);
    await writeFile(
      join(folder, 'se.yaml'),
      [serviceEntryYaml('one', 1), serviceEntryYaml('two', 2), serviceEntryYaml('three', 3)].join('---\n'),
    );
    const { code, stdout, stderr } = await runCli([
      'vips',
      '--manifests',
      folder,
      '--state-file',
      join(tmp(), 'tiny.json'),
      '--vip-range-v4',
      '240.240.0.0/30',
    ]);
    assert.equal(code, 0);
    assert.match(
      stderr,
      /MESHDNS_VIP_EXHAUSTED: ServiceEntry default\/three \(.*se\.yaml doc 2\) host three\.example\.com: no free IPv4 address left in 240\.240\.0\.0\/30/,
    );
    assert.match(stdout, /three\.example\.com\s+default\/three\s+-\s+-\s+exhausted/);
  });

  it('VIPs held back (issue 14 item 4): shown with the time left, and given to no new entry', async () => {
    const folder = join(tmp(), 'held');
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder);
    await writeFile(join(folder, 'se.yaml'), serviceEntryYaml('newcomer', 1));
    const state = join(tmp(), 'held.json');
    // db was deleted 10 minutes ago and its VIPs, the first pair, are held back for an hour.
    const since = new Date(Date.now() - 10 * 60_000).toISOString();
    const held = {
      namespace: 'default',
      name: 'db',
      host: 'db.example.com',
      v4: '240.240.0.1',
      v6: '2001:2::1',
      since,
    };
    await writeFile(state, JSON.stringify({ version: 3, allocations: [], holdback: [held] }));
    const args = ['vips', '--manifests', folder, '--state-file', state];
    const table = await runCli(args);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^newcomer\.example\.com\s+default\/newcomer\s+240\.240\.0\.2\s+2001:2::2\s+new$/m,
    );
    assert.match(
      table.stdout,
      /^db\.example\.com\s+default\/db\s+240\.240\.0\.1\s+2001:2::1\s+held-back, (50m 0s|4\dm \d+s) left$/m,
    );
    const json = await runCli([...args, '--output', 'json', '--vip-holdback', '900']);
    const answered = Date.now();
    const rows = JSON.parse(json.stdout) as { state: string; leftSeconds?: number; until?: string }[];
    const row = rows.find((r) => r.state === 'held-back');
    // Between what was left when the command answered and the 300 s left when the test began.
    const least = Math.floor((Date.parse(since) + 900_000 - answered) / 1000);
    assert.ok(row && row.leftSeconds! >= least && row.leftSeconds! <= 300, JSON.stringify(row));
    assert.equal(row.until, new Date(Date.parse(since) + 900_000).toISOString());
    // Past its hold-back the pair is free again: the new entry takes it.
    const short = await runCli([...args, '--vip-holdback', '300']);
    assert.match(
      short.stdout,
      /^newcomer\.example\.com\s+default\/newcomer\s+240\.240\.0\.1\s+2001:2::1\s+new$/m,
    );
    assert.doesNotMatch(short.stdout, /held-back/);
    assert.equal(JSON.parse(await readFile(state, 'utf8')).holdback.length, 1, 'vips writes nothing');
  });

  const badFlags: [string, string[], RegExp][] = [
    [
      'range too small',
      ['--vip-range-v4', '240.240.0.0/31'],
      /--vip-range-v4 "240\.240\.0\.0\/31": too small/,
    ],
    [
      'range of the wrong family',
      ['--vip-range-v6', '10.0.0.0/8'],
      /--vip-range-v6 "10\.0\.0\.0\/8": not an IPv6 range/,
    ],
    [
      'hold-back shorter than twice the answer TTL',
      ['--vip-holdback', '59'],
      /--vip-holdback "59": at least 60 s: twice the TTL \(30 s\) VIPs are answered with/,
    ],
  ];
  for (const [name, args, error] of badFlags) {
    it(`${name}: exits 1 with a one-line reason`, async () => {
      const { code, stderr } = await runCli(['vips', '--manifests', 'examples', ...args]);
      assert.equal(code, 1);
      assert.match(stderr, error);
    });
  }
});

describe('meshdns config', () => {
  it('prints each setting, its value and where it came from', async () => {
    const { code, stdout, stderr } = await runCli([
      'config',
      '--manifests',
      'examples',
      '--workload',
      'payments/checkout',
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(stdout.trim().split('\n'), [
      'SETTING            VALUE  FROM         SOURCE',
      'DNS_CAPTURE        on     workload     proxy.istio.io/config of Deployment payments/checkout (examples/payments.yaml doc 3)',
      'DNS_AUTO_ALLOCATE  on     mesh-config  MeshConfig examples/meshconfig.yaml doc 0',
    ]);
  });

  it('--output json; a workload turning capture off beats the mesh-wide on', async () => {
    const { code, stdout } = await runCli([
      'config',
      '--manifests',
      'examples',
      '--workload',
      'default/reports',
      '--output',
      'json',
    ]);
    assert.equal(code, 0);
    const out = JSON.parse(stdout);
    assert.deepEqual(out.workload, {
      kind: 'Deployment',
      namespace: 'default',
      name: 'reports',
      source: 'examples/default-services.yaml doc 4',
    });
    assert.deepEqual(out.settings[0], {
      name: 'DNS_CAPTURE',
      key: 'ISTIO_META_DNS_CAPTURE',
      value: false,
      origin: 'workload',
      detail: 'proxy.istio.io/config of Deployment default/reports (examples/default-services.yaml doc 4)',
    });
  });

  it("--mesh-config replaces the folder's MeshConfig", async () => {
    const file = join(tmp(), 'mesh');
    await writeFile(file, 'defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_AUTO_ALLOCATE: "false"\n');
    const { code, stdout } = await runCli([
      'config',
      '--manifests',
      'examples',
      '--workload',
      'payments/checkout',
      '--mesh-config',
      file,
    ]);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`DNS_AUTO_ALLOCATE\\s+off\\s+mesh-config\\s+MeshConfig ${file} doc 0`));
  });

  const bad: [string, string[], RegExp][] = [
    [
      'unknown workload',
      ['--workload', 'payments/nope'],
      /MESHDNS_WORKLOAD_NOT_FOUND: --workload payments\/nope: no Pod/,
    ],
    ['workload not NS/NAME', ['--workload', 'checkout'], /--workload "checkout": expected NAMESPACE\/NAME/],
    ['no workload', [], /required option '--workload/],
    [
      'namespace disagrees',
      ['--workload', 'payments/checkout', '--namespace', 'default'],
      /--namespace "default": --workload payments\/checkout is in namespace payments/,
    ],
    [
      'mesh config missing',
      ['--workload', 'payments/checkout', '--mesh-config', '/nonexistent/mesh'],
      /MESHDNS_MESH_CONFIG: \/nonexistent\/mesh: cannot read/,
    ],
  ];
  for (const [name, args, error] of bad) {
    it(`${name}: exits 1 with a one-line reason`, async () => {
      const { code, stdout, stderr } = await runCli(['config', '--manifests', 'examples', ...args]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, error);
    });
  }
});
