// `meshdns serve` from start to stop (issue 8): it answers (forwarding) before the first table is
// built, SIGTERM during start-up exits 0, and SIGHUP reloads instead of killing the process.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { eventually, startCli, waitForOutput } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

const tmp = tempFolder('meshdns-serve-lifecycle-');

/** Enough Services that building the first table takes a noticeable while. */
const SERVICES = 10_000;

function bigFolderYaml(): string {
  const docs: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: ns-${i % 50}}\nspec: {clusterIP: ${ip}, ports: [{port: 80}]}\n`,
    );
  }
  return docs.join('---\n');
}

/** The data of each answer record, in order. */
function data(p: { answers?: unknown[] }): string[] {
  return (p.answers ?? []).map((a) => String((a as { data: unknown }).data));
}

describe('meshdns serve: start-up and signals', () => {
  let upstream: StubDns;
  let big: string;
  before(async () => {
    upstream = await startStubDns((q) =>
      q.name === 'up.example' ? { answers: [{ type: 'A', name: q.name, ttl: 60, data: '192.0.2.7' }] } : {},
    );
    big = join(tmp(), 'big');
    await mkdir(big);
    await writeFile(join(big, 'services.yaml'), bigFolderYaml());
  });
  after(() => upstream.close());

  async function serveBig(): Promise<{ port: number; run: ReturnType<typeof startCli> }> {
    const port = await freePort('127.0.0.1');
    const run = startCli([
      'serve',
      ...['--manifests', big, '--dns-listen', `127.0.0.1:${port}`],
      ...['--upstream', `127.0.0.1:${upstream.port}`, '--search', 'default.svc.cluster.local'],
      ...['--state-file', join(tmp(), `state-${port}.json`)],
    ]);
    return { port, run };
  }

  /** The first answer to a forwarded name, polled as a client would. */
  async function firstForwarded(port: number, run: ReturnType<typeof startCli>): Promise<string[]> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && run.child.exitCode === null) {
      try {
        return data(await ask('udp', port, 'up.example', 'A', { timeoutMs: 100 }));
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    throw new Error(`no answer from serve:\n${run.output()}`);
  }

  it('forwards from the first moment: answers come before the first table is built', async () => {
    const { port, run } = await serveBig();
    try {
      assert.deepEqual(await firstForwarded(port, run), ['192.0.2.7']);
      assert.doesNotMatch(run.output(), /name table built/, 'the table was built before the first answer');
      await waitForOutput(run, /"msg":"serving DNS"/, 60_000);
      const svc = await ask(
        'udp',
        port,
        `svc-${SERVICES - 1}.ns-${(SERVICES - 1) % 50}.svc.cluster.local`,
        'A',
      );
      assert.deepEqual(data(svc), [`10.0.${((SERVICES - 1) >> 8) & 255}.${(SERVICES - 1) & 255}`]);
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }
  });

  it('counts the queries forwarded before its metrics are loaded (they load once it answers)', async () => {
    const port = await freePort('127.0.0.1');
    const admin = await freePort('127.0.0.1');
    const name = 'counted.example';
    const run = startCli([
      'serve',
      ...['--manifests', big, '--dns-listen', `127.0.0.1:${port}`],
      ...['--upstream', `127.0.0.1:${upstream.port}`, '--admin-listen', `127.0.0.1:${admin}`],
      ...['--state-file', join(tmp(), `state-${port}.json`)],
    ]);
    try {
      const deadline = Date.now() + 30_000;
      let answered = false;
      while (!answered && Date.now() < deadline && run.child.exitCode === null) {
        answered = await ask('udp', port, name, 'A', { timeoutMs: 100 }).then(
          () => true,
          () => new Promise<boolean>((r) => setTimeout(() => r(false), 2)),
        );
      }
      assert.ok(answered, run.output());
      // Every query the upstream saw is in Istio's counters and histogram, the first ones included.
      await eventually(async () => {
        const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
        const value = (metric: string) => Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(text)?.[1]);
        const seen = upstream.queries.filter((q) => q.name === name).length;
        assert.ok(seen >= 1);
        assert.equal(value('dns_upstream_requests_total'), seen);
        assert.equal(value('dns_upstream_request_duration_seconds_count'), seen);
        assert.ok(value('dns_requests_total') >= seen);
      }, 10_000);
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }
  });

  it('SIGTERM during start-up exits 0', async () => {
    const { port, run } = await serveBig();
    let code: number | null;
    try {
      await firstForwarded(port, run);
      assert.doesNotMatch(run.output(), /"msg":"serving DNS"/, 'start-up was over before the signal');
    } finally {
      code = await run.stop();
    }
    assert.equal(code, 0, run.output());
  });

  it('SIGHUP re-reads --mesh-config and resolv.conf instead of killing the process', async () => {
    const dir = join(tmp(), 'hup');
    await mkdir(dir);
    await writeFile(join(dir, 'db.yaml'), serviceEntryYaml('db', 1));
    const mesh = join(tmp(), 'mesh.yaml');
    const autoAllocate = (on: boolean) =>
      `defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: "true"\n    ISTIO_META_DNS_AUTO_ALLOCATE: "${on}"\n`;
    await writeFile(mesh, autoAllocate(true));
    const resolvConf = join(tmp(), 'resolv.conf');
    await writeFile(resolvConf, 'nameserver 127.0.0.1\nsearch one.example\n');
    const port = await freePort('127.0.0.1');
    const run = startCli([
      'serve',
      ...['--manifests', dir, '--dns-listen', `127.0.0.1:${port}`, '--mesh-config', mesh],
      ...['--upstream', `127.0.0.1:${upstream.port}`, '--resolv-conf', resolvConf],
      ...['--state-file', join(tmp(), 'hup.json')],
    ]);
    try {
      await waitForOutput(run, /"msg":"serving DNS"/);
      assert.deepEqual(data(await ask('udp', port, 'db.example.com', 'A')), ['240.240.0.1']);
      // The search shortcut follows resolv.conf's first search domain (SPEC §3.9).
      assert.equal(data(await ask('udp', port, 'db.example.com.one.example', 'A')).length, 2);

      await writeFile(mesh, autoAllocate(false));
      await writeFile(resolvConf, 'nameserver 127.0.0.1\nsearch two.example\n');
      run.child.kill('SIGHUP');
      await eventually(async () => {
        assert.deepEqual(data(await ask('udp', port, 'db.example.com', 'A')), [], 'forwarded: no VIP now');
      });
      await writeFile(mesh, autoAllocate(true));
      run.child.kill('SIGHUP');
      await eventually(async () => {
        assert.deepEqual(data(await ask('udp', port, 'db.example.com.two.example', 'A')), [
          'db.example.com',
          '240.240.0.1',
        ]);
      });
      assert.equal(run.child.exitCode, null, 'still running');
      assert.match(run.output(), /SIGHUP: re-reading/);
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }
  });
});
