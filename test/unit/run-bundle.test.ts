// src/cli/run-bundle.ts: a CommonJS bundle run as `require` would, from the V8 code cache written
// beside it. Each case runs in a child process with coverage off: the parent runs under c8, and V8
// flags and coverage are per process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { codeCacheFile, WRITE_CODE_CACHE_ENV } from '../../src/cli/run-bundle.js';

const LOADER = fileURLToPath(new URL('../../src/cli/run-bundle.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'run-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `bundle` in a child; its stdout, and what runBundle said of the cache, on stderr. */
function run(bundle: string, env: Record<string, string> = {}): { stdout: string; cache: string } {
  const script = `import { runBundle } from ${JSON.stringify(LOADER)}; console.error(runBundle(${JSON.stringify(bundle)}));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, NODE_V8_COVERAGE: '', ...env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, cache: r.stderr.trim().split('\n').at(-1)! };
}

function bundle(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('runBundle', () => {
  it('runs a CommonJS file with its own module, require, __filename and __dirname', () => {
    bundle('helper.cjs', 'module.exports = { twice: (n) => 2 * n };');
    const file = bundle(
      'main.cjs',
      "const { twice } = require('./helper.cjs'); module.exports.x = 1;\n" +
        'console.log(twice(21), __filename.endsWith("main.cjs"), __dirname === require("node:path").dirname(__filename), exports === module.exports);',
    );
    const r = run(file);
    assert.equal(r.stdout, '42 true true true\n');
    assert.equal(r.cache, 'absent');
  });

  it('writes the code cache when the training run asks, and the next run uses it', () => {
    const file = bundle(
      'trained.cjs',
      'function f(n) { return n + 1; }\nconsole.log(f(1));\nsetTimeout(() => {}, 300);',
    );
    const first = run(file, { [WRITE_CODE_CACHE_ENV]: '50' });
    assert.equal(first.cache, 'absent');
    assert.ok(existsSync(codeCacheFile(file)), 'the cache was written');
    const second = run(file);
    assert.equal(second.cache, 'used');
    assert.equal(second.stdout, '2\n');
  });

  /** A bundle trained on one text, then given `text`, its time `shiftMs` past its cache's; the next run. */
  function changedAfterTraining(
    name: string,
    text: string,
    shiftMs: number,
  ): { stdout: string; cache: string } {
    const file = bundle(name, 'console.log("old");\nsetTimeout(() => {}, 300);');
    run(file, { [WRITE_CODE_CACHE_ENV]: '50' });
    assert.ok(existsSync(codeCacheFile(file)));
    writeFileSync(file, text);
    const at = new Date(statSync(codeCacheFile(file)).mtimeMs + shiftMs);
    utimesSync(file, at, at);
    return run(file);
  }

  it('does not offer V8 a cache older than its bundle: V8 checks the length only', () => {
    // The same length; a second later than the cache, whatever the file system's time resolution.
    const r = changedAfterTraining(
      'same-length.cjs',
      'console.log("new");\nsetTimeout(() => {}, 300);',
      1000,
    );
    assert.equal(r.stdout, 'new\n');
    assert.equal(r.cache, 'rejected');
  });

  it('runs the source when V8 refuses the cache (another length), and says so', () => {
    const r = changedAfterTraining('changed.cjs', 'console.log("a new text");', -1000);
    assert.equal(r.stdout, 'a new text\n');
    assert.equal(r.cache, 'rejected');
  });
});
