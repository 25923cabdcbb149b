// bin/meshdns runs dist/bundle (scripts/bundle.mjs), except under c8, where it runs dist/src so that
// coverage maps to src/. These tests run the bundle on purpose (NODE_V8_COVERAGE emptied): the same
// output as the modules, and `serve` with its worker threads, each a bundle of its own, all three run
// from the code caches the build wrote.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONTROLLER_RESOURCE_LIMITS } from '../../src/controller/messages.js';
import { batchSocketSupport } from '../../src/netio/index.js';
import { answersOf, ask } from '../helpers/dns-client.js';
import { BIN, ROOT, runCli, serveExamples, startCli, waitForOutput } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const examples = serveExamples('bundle-test');
const BUNDLED = { NODE_V8_COVERAGE: '' };

/** The CLI's output through `script`; fails the test on a non-zero exit. */
async function run(script: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runCli(args, { script, env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('the bundled CLI', () => {
  it('is built with its worker entries beside it, each with a code cache this Node takes', () => {
    for (const entry of ['worker.js', 'answering-worker.js'])
      assert.ok(existsSync(join(ROOT, 'dist/bundle', entry)), entry);
    // bin/meshdns starts the controller's worker before any module loads, with the same limits.
    const limits = /resourceLimits: \{ maxYoungGenerationSizeMb: (\d+) \}/.exec(readFileSync(BIN, 'utf8'));
    assert.equal(Number(limits?.[1]), CONTROLLER_RESOURCE_LIMITS.maxYoungGenerationSizeMb);
    // An addon is loaded from beside the code: each one the build made must be there too.
    for (const addon of ['netio.node', 'relay.node', 'fsio.node']) {
      if (existsSync(join(ROOT, 'dist/src/netio', addon)))
        assert.ok(existsSync(join(ROOT, 'dist/bundle', addon)), `${addon} beside the bundles`);
    }
    // Strict, as the ES modules they were built from: the directive counts only as the first statement.
    for (const b of ['main', 'worker', 'answering-worker']) {
      const head = readFileSync(join(ROOT, 'dist/bundle', `${b}.cjs`), 'latin1').slice(0, 14);
      assert.equal(head, "'use strict';c", b);
    }
    // In a child without coverage: V8 flags and coverage are the process's. The build's training run
    // wrote the caches (scripts/bundle.mjs); a flag it left set (--expose-gc once did) refuses them.
    const loader = join(ROOT, 'dist/src/cli/run-bundle.js');
    const bundles = ['main', 'worker', 'answering-worker'].map((b) => join(ROOT, 'dist/bundle', `${b}.cjs`));
    const script = `import { compileBundle } from ${JSON.stringify(loader)};
      console.log(JSON.stringify(${JSON.stringify(bundles)}.map((b) => compileBundle(b).cache)));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...BUNDLED },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const [main, worker, answering] = JSON.parse(r.stdout) as string[];
    assert.deepEqual([main, worker], ['used', 'used']);
    // The answering worker runs (and is trained) only where the port can be shared: with the native
    // socket always, with node:dgram from Node 22.12.
    if (batchSocketSupport().available) assert.equal(answering, 'used');
    else assert.ok(answering === 'used' || answering === 'absent', answering);
  });

  it('prints the same table as the modules it was built from', async () => {
    const args = [
      'table',
      '--manifests',
      'examples',
      '--search',
      'default.svc.cluster.local',
      '--output',
      'json',
    ];
    const bundled = await run(BIN, args, BUNDLED);
    const modules = await run(join(ROOT, 'dist/src/cli/main.js'), args);
    assert.ok(JSON.parse(bundled).length > 0);
    assert.equal(bundled, modules);
  });

  it('serves the table from its worker thread', async () => {
    const port = await freePort('127.0.0.1');
    const serve = startCli([...examples.args(), '--dns-listen', `127.0.0.1:${port}`], { env: BUNDLED });
    try {
      await waitForOutput(serve, /serving DNS/);
      const reply = await ask('udp', port, 'productpage.default.svc.cluster.local', 'A');
      assert.equal(reply.flags! & 0x400, 0x400, 'authoritative: from the table');
      assert.equal(answersOf(reply).length, 1);
    } finally {
      assert.equal(await serve.stop(), 0);
    }
  });

  it('answers on two threads with --workers 2 (the answering worker is an entry of its own)', async () => {
    const port = await freePort('127.0.0.1');
    const admin = await freePort('127.0.0.1');
    const serve = startCli(
      [
        ...examples.args(),
        ...['--dns-listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--workers', '2'],
      ],
      { env: BUNDLED },
    );
    try {
      await waitForOutput(serve, /serving DNS/);
      // One fresh socket per query: the kernel spreads the sources over the two sockets of the port.
      for (let round = 0; round < 50; round++) {
        const replies = await Promise.all(
          Array.from({ length: 40 }, () => ask('udp', port, 'productpage.default.svc.cluster.local', 'A')),
        );
        if (replies.every((r) => (r.flags! & 0x400) === 0x400)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const config = (await (await fetch(`http://127.0.0.1:${admin}/debug/config`)).json()) as {
        answeringThreads: { running: number; udpDatagrams: number[] };
      };
      assert.equal(config.answeringThreads.running, 2);
      const [main, worker] = config.answeringThreads.udpDatagrams;
      assert.ok(main! > 0 && worker! > 0, JSON.stringify(config.answeringThreads));
    } finally {
      assert.equal(await serve.stop(), 0);
    }
  });
});
