// Time flags are bounded by what Node's timers hold: a delay above 2^31-1 ms silently becomes 1 ms,
// so `--upstream-timeout 2147483648` would time every query out at once. Such values are refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveExamples, startCli } from '../helpers/meshdns.js';

const serve = [...serveExamples('bounds-test').args(), '--dns-listen', '127.0.0.1:0'];

/** A daemon that took the flag: its first log lines once it serves. */
const SERVING = /"msg":"(UDP answered|name table built|serving DNS)/;

/**
 * Runs the CLI until it exits, or until it shows that it took the flag and serves (then it is stopped).
 * `ms` only bounds a process that does neither; a loaded machine may take seconds to start Node.
 */
async function runBounded(args: string[], ms = 60_000): Promise<{ code: number | null; output: string }> {
  const run = startCli(args);
  // 'close', not 'exit': the error message must have been read from the pipe too.
  let closed = false;
  run.child.once('close', () => {
    closed = true;
  });
  const deadline = Date.now() + ms;
  while (!closed && !SERVING.test(run.output()) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const code = run.child.exitCode;
  if (!closed) {
    await run.stop();
    return {
      code: null,
      output: `still running (${SERVING.test(run.output()) ? 'serving' : 'silent'}):\n${run.output()}`,
    };
  }
  return { code, output: run.output() };
}

const TOO_BIG = '2147483648';

describe('time flags above what a timer holds are refused, naming flag, value and maximum', () => {
  const cases: { flag: string; args: string[]; max: RegExp }[] = [
    { flag: '--upstream-timeout', args: serve, max: /at most 2147483647 ms/ },
    { flag: '--vip-connect-timeout', args: [...serve, '--vip-proxy'], max: /at most 2147483647 ms/ },
    { flag: '--vip-idle-timeout', args: [...serve, '--vip-proxy'], max: /at most 2147483647 ms/ },
    { flag: '--cache-max-ttl', args: serve, max: /at most 2147483647 s/ },
    { flag: '--cache-max-negative-ttl', args: serve, max: /at most 2147483647 s/ },
    { flag: '--stale-max-age', args: serve, max: /at most 2147483647 s/ },
    { flag: '--upstream-hedge', args: serve, max: /auto, off, or a delay in ms from 0 to 2147483647/ },
    {
      flag: '--timeout',
      args: ['lookup', 'example.org', '--server', '127.0.0.1:9'],
      max: /at most 2147483647 ms/,
    },
  ];
  for (const c of cases) {
    it(`${c.flag} ${TOO_BIG}`, async () => {
      const r = await runBounded([...c.args, c.flag, TOO_BIG]);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, new RegExp(`MESHDNS_FLAG_INVALID: ${c.flag} "${TOO_BIG}": `));
      assert.match(r.output, c.max);
    });
  }
});
