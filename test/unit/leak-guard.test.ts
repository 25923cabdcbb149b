// The leak guard fails a test file that leaves a handle open, names it, and passes one that closes
// everything: run on fixture files through `node --test --import`, as `npm test` runs ours.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { ROOT } from '../helpers/meshdns.js';

const GUARD = `${ROOT}dist/test/helpers/leak-guard.js`;
const FIXTURES = `${ROOT}test/fixtures/leak-guard`;

function runGuarded(file: string): Promise<{ code: number | null; output: string }> {
  // Without NODE_TEST_CONTEXT (set for this very file) the inner node --test runs as a top-level runner.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--test', '--test-reporter=tap', '--import', GUARD, `${FIXTURES}/${file}`],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('leak guard', () => {
  const cases = [
    {
      file: 'open-timer.test.mjs',
      fails: true,
      names: /leak-guard: .*open-timer\.test\.mjs left open .*1 Timeout/,
    },
    {
      file: 'open-server.test.mjs',
      fails: true,
      names: /1 TCPServerWrap\n.*server listening on \{"address":"127\.0\.0\.1"/,
    },
    { file: 'closed.test.mjs', fails: false, names: /# pass 1/ },
  ];
  for (const { file, fails, names } of cases) {
    test(`${file}: ${fails ? 'fails, naming what is open' : 'passes'}`, async () => {
      const { code, output } = await runGuarded(file);
      assert.equal(code === 0, !fails, output);
      assert.match(output, names);
      if (!fails) assert.doesNotMatch(output, /leak-guard:/);
    });
  }
});
