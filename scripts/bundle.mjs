// `npm run build` / `npm ci`, after tsc: the CLI and the two worker threads bundled into dist/bundle/
// with esbuild, each with a V8 code cache beside it, which bin/meshdns runs. Why: Node 20 loads each ES
// module separately (resolve, read, compile, link), and `serve` loads about 60 of ours and 150 of its
// dependencies' on each of its two threads before the first answer and before reading a manifest; one
// CommonJS file per thread, compiled from its code cache (src/cli/run-bundle.ts), starts in a fraction
// of that (SPEC §4: forward from the first moment).
//
// The code is the same as dist/src (tsc's output is the input). The packages that only the
// `controller` and `agent` commands load, on demand, stay in node_modules.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
// tsc has run: the training uses the code it trains (the cache's name and switch, the query builder).
import { codeCacheFile, WRITE_CODE_CACHE_ENV } from '../dist/src/cli/run-bundle.js';
import { buildQuery } from '../dist/src/upstream/index.js';

const OUT = 'dist/bundle';
const ENTRIES = {
  main: 'dist/src/cli/main.js',
  worker: 'dist/src/controller/worker.js',
  'answering-worker': 'dist/src/agent/answering-worker.js',
};

rmSync(OUT, { recursive: true, force: true });

await build({
  entryPoints: ENTRIES,
  outdir: OUT,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  // CommonJS: a V8 code cache can be given to vm.Script, never to Node 20's ES module loader. Each
  // bundle holds all its thread may run; what a command or a late path loads stays uninitialised
  // until first used (esbuild turns each dynamic import into a lazy init).
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // zod is 600 KB of each bundle's text, and only the slow path of a manifest's checks uses it
  // (src/model/lazy.ts): required from node_modules when that path first runs.
  external: ['@kubernetes/client-node', '@grpc/grpc-js', 'protobufjs', 'zod'],
  // remote.ts starts `new URL('./worker.js', import.meta.url)`, and the addons are found the same way:
  // relative to the bundle, which is where they all are.
  define: { 'import.meta.url': '__meshdnsUrl' },
  // "use strict" first: esbuild puts its own after the banner, where it is no directive, and the
  // modules were written as ES modules, which are always strict.
  banner: { js: "'use strict';const __meshdnsUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  // The packages' licence comments go to <bundle>.LEGAL.txt beside each bundle: the bundles keep no
  // comment, so that any character past ASCII is a mistake (below).
  legalComments: 'external',
  logLevel: 'warning',
});

// Node 20 loses a vm.Script's import() callback when V8 runs the script from its code cache: an
// `import(x)` left in a bundle would fail ("A dynamic import callback was not specified") only where
// the cache is used. esbuild turns ours into lazy inits; one of a package kept outside would stay.
//
// And ASCII only: one character past it makes the whole source a two-byte string, which takes twice the
// memory and twice as long to read (main.cjs: 8 ms against 4), and src/cli/run-bundle.ts reads it as
// latin1. esbuild escapes every such character in code (its default charset), and no comment is kept.
for (const name of Object.keys(ENTRIES)) {
  const text = readFileSync(join(OUT, `${name}.cjs`), 'latin1');
  const found = /(?:^|[^\w$.])import\(/.exec(text);
  if (found) {
    const around = text.slice(found.index, found.index + 80);
    throw new Error(`${name}.cjs keeps a dynamic import, which fails from a code cache: ${around}`);
  }
  const wide = /[^\x00-\x7f]/.exec(text);
  if (wide) throw new Error(`${name}.cjs: a character past ASCII at ${wide.index}`);
}

// The workers are started by URL as `./worker.js` and `./answering-worker.js` (the names tsc gives
// them in dist/src): here, each is a module that runs its bundle as bin/meshdns runs main.cjs.
for (const name of ['worker', 'answering-worker']) {
  writeFileSync(
    join(OUT, `${name}.js`),
    [
      `// ${name}.cjs from its code cache (scripts/bundle.mjs).`,
      "import { fileURLToPath } from 'node:url';",
      "import { runBundle } from '../src/cli/run-bundle.js';",
      '',
      `runBundle(fileURLToPath(new URL('./${name}.cjs', import.meta.url)));`,
      '',
    ].join('\n'),
  );
}

// A native addon is found beside the code that loads it (`new URL('./x.node', import.meta.url)`): in the
// bundle that is dist/bundle/, so the ones the build made are copied there.
for (const addon of ['netio/netio.node', 'netio/relay.node', 'netio/fsio.node']) {
  const from = `dist/src/${addon}`;
  if (existsSync(from)) copyFileSync(from, join(OUT, addon.split('/').pop()));
}

// The training run: `serve` on the examples, asked a few questions, each thread writing its bundle's
// code cache WRITE_AFTER_MS after it started (the questions are answered well before), so that the
// cache holds the start's functions compiled, not only the bundle's top level. The first run answers on
// the main thread alone; the second with an answering worker, whose bundle only `--workers` above 1 runs.
// Loopback only; a run that fails leaves its bundles without a cache, which work, only slower to start.
const WRITE_AFTER_MS = 2500;
const caches = (names) => names.map((n) => codeCacheFile(join(OUT, `${n}.cjs`)));
for (const [args, names, skip] of [
  [
    ['--workers', '1'],
    ['main', 'worker'],
  ],
  // Only where the port can be shared (SO_REUSEPORT): else `serve` answers on one thread.
  [['--workers', '2'], ['answering-worker'], (log) => /"running":1\b/.test(log)],
]) {
  try {
    await train(args, caches(names), skip);
  } catch (err) {
    console.warn(
      `bundle: no code cache for ${names.join(', ')} (${err.message}); it works without, only slower to start`,
    );
  }
}

/** `skip(log)`: the start's log says the threads that would write `wanted` did not start. */
async function train(extraArgs, wanted, skip = () => false) {
  const dir = mkdtempSync(join(tmpdir(), 'meshdns-code-cache-'));
  // Without NODE_OPTIONS: V8 refuses a cache made under other flags, and meshdns runs without them.
  const { NODE_OPTIONS: _, ...env } = process.env;
  const child = spawn(
    process.execPath,
    [
      'bin/meshdns',
      'serve',
      ...['--manifests', 'examples', '--state-file', join(dir, 'state.json')],
      ...['--dns-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
      // Nothing listens on the discard port: forwarded questions fail at once (ICMP port unreachable).
      ...['--upstream', '127.0.0.1:9', '--log-level', 'info', ...extraArgs],
    ],
    {
      env: { ...env, [WRITE_CODE_CACHE_ENV]: String(WRITE_AFTER_MS), NODE_V8_COVERAGE: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const { port, log } = await listening(child, exited);
    if (skip(log)) return;
    await askAll(port);
    const deadline = Date.now() + WRITE_AFTER_MS + 10_000;
    while (!wanted.every((f) => existsSync(f))) {
      if (Date.now() > deadline) throw new Error(`the training run wrote no ${wanted.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The DNS port from `serve`'s "serving DNS" log line, and the log up to it. */
function listening(child, exited) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('serve did not start within 10 s')), 10_000);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? child.signalCode}): ${text.slice(-300)}`));
    });
    child.stderr.on('data', (chunk) => {
      text += chunk;
      const m = /"listen":"127\.0\.0\.1:(\d+)".*"msg":"serving DNS"/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), log: text });
      }
    });
  });
}

/**
 * Table names, a ServiceEntry's VIP, AAAA, a forwarded name, each asked until answered 8 times: from 8
 * sockets a round, since the kernel gives each source port to one of the threads sharing the port.
 */
async function askAll(port) {
  const questions = [
    ['productpage.default.svc.cluster.local', 1],
    ['productpage.default.svc.cluster.local', 28],
    ['db-a.example.com', 1],
    ['nothing.example.invalid', 1],
  ];
  const answers = questions.map(() => 0);
  for (let round = 0; round < 50 && answers.some((n) => n < 8); round++) {
    const sockets = Array.from({ length: 8 }, () => createSocket('udp4'));
    for (const socket of sockets) {
      socket.on('message', (m) => answers[m.readUInt16BE(0)]++);
      for (const [id, [name, type]] of questions.entries()) {
        socket.send(buildQuery(name, type, id), port, '127.0.0.1');
      }
    }
    await new Promise((r) => setTimeout(r, 20));
    for (const socket of sockets) socket.close();
  }
}
