// bin/meshdns and the worker threads run the CommonJS bundles of dist/bundle/ (scripts/bundle.mjs)
// through this, compiled from the V8 code cache that the build wrote beside each bundle. Node 20 has no
// compile cache of its own (module.enableCompileCache is Node 22), and loading ES modules (resolve,
// compile, link) was most of what `serve` spent between Node's own start and its first answer (SPEC
// §4: forward from the first moment; issue 8: first answer < 100 ms). A cache V8 refuses (another
// Node, other V8 flags, a bundle of another length), or one older than its bundle, costs nothing but
// the compile it would have saved.
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { constants, Script } from 'node:vm';
import { threadId } from 'node:worker_threads';

/**
 * Set only by the build's training run (scripts/bundle.mjs): this many milliseconds after a bundle
 * starts, it writes its code cache, which then holds every function the run compiled by then.
 */
export const WRITE_CODE_CACHE_ENV = 'MESHDNS_WRITE_CODE_CACHE_MS';

export type CacheUse = 'used' | 'rejected' | 'absent';

export function codeCacheFile(bundle: string): string {
  return `${bundle}.cache`;
}

type Wrapper = (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

/** Compiles `bundle` (a CommonJS file) with its code cache where there is one; says whether V8 took it. */
export function compileBundle(bundle: string): { script: Script; cache: CacheUse } {
  // latin1: the build leaves only ASCII in a bundle (scripts/bundle.mjs), which this reads as the same
  // text in half the time of UTF-8 decoding.
  const source = readFileSync(bundle, 'latin1');
  let cachedData: Buffer | undefined;
  let stale = false;
  try {
    const file = codeCacheFile(bundle);
    // V8 checks a cache against its source's length only: one older than the bundle is not offered
    // (a bundle changed after the build, to the same length, would run the code of before).
    stale = statSync(file).mtimeMs < statSync(bundle).mtimeMs;
    if (!stale) cachedData = readFileSync(file);
  } catch {
    // No cache (a build without its training run): compiled from the source alone.
  }
  // Node's own CommonJS wrapper, on the first line so that line numbers stay those of the file.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
    // An `import()` would reach Node's loader as from a module, but only while the cache is not used:
    // the build refuses a bundle that keeps one (scripts/bundle.mjs).
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const cache: CacheUse = stale
    ? 'rejected'
    : cachedData === undefined
      ? 'absent'
      : script.cachedDataRejected
        ? 'rejected'
        : 'used';
  return { script, cache };
}

/** Runs `bundle` as Node would `require` it; says whether its code cache was used. */
export function runBundle(bundle: string): CacheUse {
  const { script, cache } = compileBundle(bundle);
  const writeAfterMs = Number(process.env[WRITE_CODE_CACHE_ENV] ?? 0);
  if (writeAfterMs > 0 && cache !== 'used') {
    setTimeout(() => writeCache(bundle, script), writeAfterMs).unref();
  }
  const module = { exports: {} };
  const wrapper = script.runInThisContext() as Wrapper;
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return cache;
}

/** Whole or not at all (the build waits for the file to appear); a failure only leaves no cache. */
function writeCache(bundle: string, script: Script): void {
  const file = codeCacheFile(bundle);
  try {
    // Several answering workers run one bundle: each writes a file of its own, then renames it.
    const tmp = `${file}.${process.pid}-${threadId}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, file);
  } catch (err) {
    process.emitWarning(`meshdns: no code cache written for ${bundle}: ${(err as Error).message}`);
  }
}
