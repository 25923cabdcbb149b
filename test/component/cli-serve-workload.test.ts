// `meshdns serve --workload` (SPEC §2, §5): capture off opens no listener; capture on serves VIPs
// that stay put across edits of the folder and across restarts.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { answersOf, ask, rcodeOf } from '../helpers/dns-client.js';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { eventually, runCli, startCli, waitForDns, waitForOutput } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const quiet = ['--upstream', '127.0.0.1:9', '--search', 'default.svc.cluster.local'];

const tmp = tempFolder('meshdns-serve-workload-');

describe('meshdns serve --workload', () => {
  it('capture off: says so, opens no DNS listener, exits 0 on SIGTERM', async () => {
    const port = await freePort('127.0.0.1');
    const agent = startCli([
      'serve',
      '--manifests',
      'examples',
      '--workload',
      'default/reports',
      '--dns-listen',
      `127.0.0.1:${port}`,
      '--state-file',
      join(tmp(), 'off.json'),
      ...quiet,
    ]);
    try {
      await waitForOutput(agent, /DNS capture is off for workload default\/reports: not serving DNS/);
      await assert.rejects(
        ask('udp', port, 'productpage.default.svc.cluster.local', 'A', { timeoutMs: 300 }),
      );
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          const s = createConnection({ host: '127.0.0.1', port }, () => {
            s.destroy();
            resolve();
          });
          s.on('error', reject);
        }),
        { code: 'ECONNREFUSED' },
      );
    } finally {
      assert.equal(await agent.stop(), 0, agent.output());
    }
    assert.doesNotMatch(agent.output(), /"msg":"serving DNS"/);
  });

  it('capture on: serves VIPs that stay put across edits and restarts (state file)', async () => {
    const folder = join(tmp(), 'watched');
    await mkdir(folder);
    const state = join(tmp(), 'watched.json');
    const app = (metadata: string) =>
      writeFile(
        join(folder, 'app.yaml'),
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: default\n  annotations:\n    proxy.istio.io/config: "proxyMetadata: {${metadata}}"\n`,
      );
    await app("ISTIO_META_DNS_CAPTURE: 'true'");
    await writeFile(join(folder, 'b.yaml'), serviceEntryYaml('db-b', 11));
    const port = await freePort('127.0.0.1');
    const args = [
      'serve',
      '--manifests',
      folder,
      '--workload',
      'default/app',
      '--dns-listen',
      `127.0.0.1:${port}`,
      '--state-file',
      state,
      ...quiet,
      '--upstream-timeout',
      '300',
    ];
    const resolves = (host: string, want: string) =>
      eventually(async () => {
        const reply = await ask('udp', port, host, 'A', { timeoutMs: 500 });
        assert.deepEqual(answersOf(reply), [`${host} A ${want}`]);
      });

    let agent = startCli(args);
    try {
      await waitForDns('127.0.0.1', port);
      await resolves('db-b.example.com', '240.240.0.1');
      // An older entry added later does not take db-b's address.
      await writeFile(join(folder, 'a.yaml'), serviceEntryYaml('db-a', 10));
      await resolves('db-a.example.com', '240.240.0.2');
      await resolves('db-b.example.com', '240.240.0.1');
    } finally {
      assert.equal(await agent.stop(), 0, agent.output());
    }
    const saved = JSON.parse(await readFile(state, 'utf8'));
    assert.deepEqual(
      saved.allocations.map((a: { host: string; v4: string }) => `${a.host} ${a.v4}`),
      ['db-a.example.com 240.240.0.2', 'db-b.example.com 240.240.0.1'],
    );

    // A new process reads the state file: the same VIPs, though allocating afresh would swap them.
    agent = startCli(args);
    try {
      await waitForDns('127.0.0.1', port);
      await resolves('db-a.example.com', '240.240.0.2');
      await resolves('db-b.example.com', '240.240.0.1');
      // Auto-allocation follows the annotation: off, the hosts leave the table (forwarded, and the
      // dead upstream gives SERVFAIL).
      await app("ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'false'");
      await eventually(async () => {
        const reply = await ask('udp', port, 'db-a.example.com', 'A', { timeoutMs: 1000 });
        assert.equal(rcodeOf(reply.raw), 2);
      });
      // Capture is settled at start: turning it off is announced, and DNS is still answered.
      await app("ISTIO_META_DNS_CAPTURE: 'false'");
      await waitForOutput(
        agent,
        /DNS capture is now off for this workload \(on at start\); restart meshdns serve/,
      );
      await waitForDns('127.0.0.1', port);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output());
    }
  });

  it('an unknown workload fails at start', async () => {
    const { code, stderr } = await runCli([
      'serve',
      '--manifests',
      'examples',
      '--workload',
      'default/ghost',
      '--state-file',
      join(tmp(), 'ghost.json'),
      ...quiet,
    ]);
    assert.equal(code, 1);
    assert.match(stderr, /MESHDNS_WORKLOAD_NOT_FOUND: --workload default\/ghost/);
  });
});
