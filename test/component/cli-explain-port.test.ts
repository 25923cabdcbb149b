// `explain --admin` reaches an admin API on any port, including those the fetch standard blocks
// (6000 for X11, 6665-6669 for IRC, …: undici refuses them before connecting).
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { runCli, serveExamples, startCli, waitForOutput } from '../helpers/meshdns.js';

const examples = serveExamples('explain-port-test');

/** Some of the fetch standard's "bad ports" (https://fetch.spec.whatwg.org/#port-blocking). */
const BAD_PORTS = [6000, 6665, 6666, 6667, 6668, 6669, 6697, 10080, 4045, 5060, 5061];

async function freeBadPort(): Promise<number | undefined> {
  for (const port of BAD_PORTS) {
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
  return undefined;
}

describe('explain --admin on a port fetch blocks', () => {
  it('explains a table name', async (t) => {
    const port = await freeBadPort();
    if (port === undefined) return t.skip(`none of ${BAD_PORTS.join(', ')} is free`);
    const admin = `127.0.0.1:${port}`;
    const agent = startCli([...examples.args(), '--dns-listen', '127.0.0.1:0', '--admin-listen', admin]);
    try {
      await waitForOutput(agent, /serving DNS/);
      const r = await runCli(['explain', 'productpage', '--admin', admin]);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^productpage\. A: answered from table/);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
