// A short run of the wire fuzzer (issue 11 item 1) against a real `meshdns serve`: 20,000 bent or
// random messages over UDP and TCP. `npm run fuzz` runs the long one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWireFuzz } from '../fuzz/wire.js';
import { serveExamples, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const { args } = serveExamples('wire-fuzz');

describe('wire fuzzer, short run', () => {
  it('20,000 bad messages: no crash, every reply parses with a sent ID, good queries answered throughout', async () => {
    const port = await freePort('127.0.0.1');
    const run = startCli([...args(), '--dns-listen', `127.0.0.1:${port}`, '--upstream-timeout', '200']);
    try {
      await waitForDns('127.0.0.1', port);
      const report = await runWireFuzz({
        host: '127.0.0.1',
        port,
        packets: 20_000,
        seconds: 120,
        seed: 20261126,
        good: { name: 'productpage.default.svc.cluster.local', address: '10.96.0.10' },
      });
      assert.deepEqual(report.badReplies, []);
      assert.deepEqual(report.goodFailed, []);
      assert.equal(report.sent, 20_000, `sent ${report.sent} in ${report.seconds} s`);
      assert.ok(report.sentTcp > 0 && report.replies > 1000, JSON.stringify(report));
      assert.equal(run.child.exitCode, null, 'still running');
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }
  });
});
