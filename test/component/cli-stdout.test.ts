// Every printing command when its stdout goes away (`meshdns table | head -1`: EPIPE) or is full
// (ENOSPC): EPIPE exits 0 quietly, as `head` users expect; ENOSPC is one line on stderr and exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { a } from '../helpers/fake-upstream.js';
import {
  BIN,
  ROOT,
  type Running,
  serveExamples,
  startCli,
  waitForDns,
  waitForOutput,
} from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

const S = 'default.svc.cluster.local';
const examples = serveExamples('stdout-test');
const STATE = examples.state;

type Stdout = 'closed-pipe' | '/dev/full';

/**
 * Runs the CLI with stdout either a pipe whose reader is gone before the child writes (the child
 * needs far longer to start than we need to close it), or /dev/full.
 */
function runWithStdout(
  args: string[],
  stdout: Stdout,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const full = stdout === '/dev/full' ? openSync('/dev/full', 'w') : undefined;
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', full ?? 'pipe', 'pipe'],
  });
  if (full !== undefined) closeSync(full);
  else child.stdout!.destroy();
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

describe('printing commands: stdout closed early or full', () => {
  let stub: StubDns;
  let agent: Running;
  let dns = '';
  let admin = '';

  before(async () => {
    stub = await startStubDns((q) => ({ answers: [a(q.name, 300, '198.51.100.7')] }));
    const port = await freePort('127.0.0.1');
    dns = `127.0.0.1:${port}`;
    admin = `127.0.0.1:${await freePort('127.0.0.1')}`;
    agent = startCli([
      ...examples.args(`${stub.host}:${stub.port}`),
      '--dns-listen',
      dns,
      '--admin-listen',
      admin,
    ]);
    await waitForDns('127.0.0.1', port);
    await waitForOutput(agent, /serving DNS/);
  });

  after(async () => {
    await agent?.stop();
    await stub?.close();
  });

  const commands: { name: string; args: () => string[] }[] = [
    { name: 'table', args: () => ['table', '--manifests', 'examples', '--state-file', STATE, '--search', S] },
    { name: 'vips', args: () => ['vips', '--manifests', 'examples', '--state-file', STATE] },
    { name: 'config', args: () => ['config', '--manifests', 'examples', '--workload', 'payments/checkout'] },
    { name: 'lookup', args: () => ['lookup', 'www.example.org', '--server', dns] },
    { name: 'explain', args: () => ['explain', 'productpage', '--admin', admin] },
    { name: 'capture', args: () => ['capture', '--agent-uid', '1337'] },
  ];

  for (const c of commands) {
    it(`${c.name} | (reader gone): exits 0, nothing on stderr`, async () => {
      const r = await runWithStdout(c.args(), 'closed-pipe');
      assert.equal(r.stderr, '');
      assert.deepEqual([r.code, r.signal], [0, null]);
    });

    it(`${c.name} > /dev/full: one line naming ENOSPC, exit 1`, async () => {
      const r = await runWithStdout(c.args(), '/dev/full');
      assert.match(r.stderr, /^meshdns: cannot write to stdout: ENOSPC \(no space left on device\)\n$/);
      assert.equal(r.code, 1);
    });
  }
});
