// The CLI as a user runs it: bad flags fail fast with one line; `table` prints what a workload gets.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { ROOT, runCli, serveExamples, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const examples = serveExamples('cli-test');
const serve = examples.args();

describe('meshdns serve: bad input', () => {
  const cases: { name: string; args: string[]; error: RegExp }[] = [
    {
      name: 'missing folder',
      args: ['serve', '--manifests', '/nonexistent/meshdns'],
      error: /\/nonexistent\/meshdns/,
    },
    {
      name: 'bad listen address',
      args: [...serve, '--dns-listen', 'localhost'],
      error: /--dns-listen "localhost"/,
    },
    { name: 'bad port', args: [...serve, '--dns-listen', '127.0.0.1:99999'], error: /port must be/ },
    {
      name: 'bad timeout',
      args: [...serve, '--upstream-timeout', 'soon'],
      error: /--upstream-timeout "soon"/,
    },
    { name: 'bad upstream', args: [...serve, '--upstream', 'nowhere:xx'], error: /nowhere:xx/ },
    {
      name: 'unreadable resolv.conf',
      args: ['serve', '--manifests', 'examples', '--resolv-conf', '/nonexistent/resolv'],
      error: /\/nonexistent\/resolv/,
    },
    { name: 'unknown flag', args: [...serve, '--frobnicate'], error: /unknown option '--frobnicate'/ },
    { name: 'no manifests flag', args: ['serve'], error: /--manifests/ },
  ];
  for (const c of cases) {
    it(`${c.name}: exits non-zero with a one-line reason`, async () => {
      const { code, stderr, stdout } = await runCli(c.args);
      assert.notEqual(code, 0);
      assert.match(stderr, c.error);
      assert.equal(stdout, '');
      assert.ok(stderr.trim().split('\n')[0].length > 0);
    });
  }
});

describe('meshdns serve: lifecycle', () => {
  it('serves the examples and exits 0 on SIGINT', async () => {
    const port = await freePort('127.0.0.1');
    const agent = startCli([...serve, '--dns-listen', `127.0.0.1:${port}`]);
    try {
      await waitForDns('127.0.0.1', port);
      const reply = await ask('udp', port, 'productpage.default.svc.cluster.local', 'A');
      assert.equal(reply.answers?.length, 1);
    } finally {
      agent.child.kill('SIGINT');
    }
    const code = await new Promise((resolve) => agent.child.on('exit', resolve));
    assert.equal(code, 0, agent.output());
  });
});

describe('meshdns serve: IPv6', () => {
  it('answers on [::1] too when an upstream is IPv6', async () => {
    const port = await freePort('127.0.0.1');
    const args = examples.args('[::1]:9');
    const agent = startCli([...args, '--dns-listen', `127.0.0.1:${port}`]);
    try {
      await waitForDns('127.0.0.1', port);
      for (const proto of ['udp', 'tcp'] as const) {
        const reply = await ask(proto, port, 'reviews.default.svc.cluster.local', 'AAAA', { host: '::1' });
        assert.deepEqual(
          reply.answers?.map((a) => ('data' in a ? a.data : '')),
          ['fd00:10:96::11'],
        );
      }
    } finally {
      assert.equal(await agent.stop(), 0, agent.output());
    }
  });
});

describe('meshdns serve: the folder is watched', () => {
  it('picks up a new file, keeps the last good state of a broken one, drops a deleted one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-watch-'));
    const port = await freePort('127.0.0.1');
    const agent = startCli([
      'serve',
      '--manifests',
      dir,
      ...serve.slice(3),
      '--dns-listen',
      `127.0.0.1:${port}`,
    ]);
    const file = join(dir, 'team.yaml');
    const svc = (ip: string) =>
      `apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: default}\nspec: {clusterIP: ${ip}}\n`;
    const resolves = async (want: string[]) => {
      const deadline = Date.now() + 5000;
      let got: string[] = [];
      while (Date.now() < deadline) {
        const reply = await ask('udp', port, 'api.default.svc.cluster.local', 'A');
        got = (reply.answers ?? []).map((a) => String('data' in a ? a.data : ''));
        if (JSON.stringify(got) === JSON.stringify(want)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(got, want);
    };
    try {
      await waitForDns('127.0.0.1', port);
      await resolves([]);
      await writeFile(file, svc('10.1.0.1'));
      await resolves(['10.1.0.1']);
      await writeFile(file, svc('10.1.0.2'));
      await resolves(['10.1.0.2']);
      await writeFile(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: api\n  broken: [');
      await new Promise((r) => setTimeout(r, 400));
      await resolves(['10.1.0.2']);
      assert.match(agent.output(), /team\.yaml/, 'the broken file is reported by name');
      await rm(file);
      await resolves([]);
    } finally {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('meshdns table', () => {
  it('prints every key with its answer and origin', async () => {
    const { code, stdout } = await runCli([
      'table',
      '--manifests',
      'examples',
      '--namespace',
      'payments',
      '--search',
      'payments.svc.cluster.local',
    ]);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^NAME\s+KIND\s+ANSWER\s+ORIGIN$/);
    assert.ok(
      lines.some((l) => /^checkout\.\s+alias\s+10\.96\.1\.10\s+Service payments\/checkout/.test(l)),
      stdout,
    );
    assert.ok(
      lines.some((l) =>
        /^ledger-0\.ledger\.payments\.svc\.cluster\.local\.\s+endpoint\s+10\.244\.1\.5/.test(l),
      ),
      stdout,
    );
    assert.ok(!lines.some((l) => l.startsWith('productpage. ')), 'no short alias from another namespace');
  });

  it('--output json', async () => {
    const { code, stdout } = await runCli([
      'table',
      '--manifests',
      'examples',
      '--output',
      'json',
      '--search',
      'default.svc.cluster.local',
    ]);
    assert.equal(code, 0);
    const records = JSON.parse(stdout) as {
      name: string;
      kind: string;
      cnames: string[];
      external?: string;
    }[];
    const billing = records.find((r) => r.name === 'billing.default.svc.cluster.local.');
    assert.deepEqual(billing?.cnames, ['billing.example.net.']);
    assert.equal(billing?.external, 'billing.example.net.');
    assert.ok(records.some((r) => r.name === '*.wiki.example.org.' && r.kind === 'wildcard'));
    assert.ok(
      records.some((r) => r.name === 'productpage.default.svc.cluster.local.default.svc.cluster.local.') ===
        false,
    );
  });
});

describe('meshdns --version', () => {
  it("prints the package's version and exits 0, as -V too", async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
    }
  });
});
