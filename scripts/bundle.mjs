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

const OUT = 'dist/bundle';
const ENTRIES = {
  main: 'dist/src/cli/main.js',
  worker: 'dist/src/controller/worker.js',
  'answering-worker': 'dist/src/agent/answering-worker.js',
};
/** The same as WRITE_CODE_CACHE_ENV in src/cli/run-bundle.ts. */
const WRITE_CODE_CACHE_ENV = 'MESHDNS_WRITE_CODE_CACHE_MS';

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
  banner: { js: "const __meshdnsUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

// Node 20 loses a vm.Script's import() callback when V8 runs the script from its code cache: an
// `import("x")` left in a bundle would fail ("A dynamic import callback was not specified") only where
// the cache is used. esbuild turns ours into lazy inits; one of a package kept outside would stay.
//
// And ASCII only: one character past it makes the whole source a two-byte string, which takes twice the
// memory and twice as long to read (main.cjs: 8 ms against 4). esbuild escapes every other character
// but leaves comments as they are; in those, it becomes "?".
for (const name of Object.keys(ENTRIES)) {
  const file = join(OUT, `${name}.cjs`);
  const text = readFileSync(file, 'utf8');
  const found = /[^\w$.]import\(["'`][^\n]*/.exec(text);
  if (found)
    throw new Error(`${name}.cjs keeps a dynamic import, which fails from a code cache: ${found[0]}`);
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!/[^\x00-\x7f]/.test(line)) return;
    if (!/^\s*(\/\/|\/\*|\*)/.test(line))
      throw new Error(`${name}.cjs:${i + 1}: non-ASCII outside a comment`);
    lines[i] = line.replace(/[^\x00-\x7f]/g, '?');
  });
  writeFileSync(file, lines.join('\n'));
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
for (const addon of ['netio/netio.node', 'netio/relay.node']) {
  const from = `dist/src/${addon}`;
  if (existsSync(from)) copyFileSync(from, join(OUT, addon.split('/').pop()));
}

// The training run: `serve` on the examples, asked a few questions, each thread writing its bundle's
// code cache once it has answered them, so that the cache holds the start's functions compiled, not only
// the bundle's top level. Then once more with an answering worker, whose bundle only `--workers 2` runs.
// Loopback only; a run that fails leaves a bundle without a cache, which works, only slower to start.
const WRITE_AFTER_MS = 2500;
const caches = (names) => names.map((n) => join(OUT, `${n}.cjs.cache`));
try {
  await train([], caches(['main', 'worker']));
  // Only where the native socket shares the port (SO_REUSEPORT): else `serve` answers on one thread.
  await train(['--workers', '2'], caches(['answering-worker']), (log) => /"running":1\b/.test(log));
} catch (err) {
  console.warn(`bundle: no code cache (${err.message}); meshdns works without one, only slower to start`);
}

/** `skip(log)`: the start's log says the threads that would write `wanted` did not start. */
async function train(extraArgs, wanted, skip = () => false) {
  const dir = mkdtempSync(join(tmpdir(), 'meshdns-code-cache-'));
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
      env: { ...process.env, [WRITE_CODE_CACHE_ENV]: String(WRITE_AFTER_MS), NODE_V8_COVERAGE: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  try {
    const { port, log } = await listening(child);
    if (skip(log)) return;
    await askAll(port);
    const deadline = Date.now() + WRITE_AFTER_MS + 10_000;
    while (!wanted.every((f) => existsSync(f))) {
      if (Date.now() > deadline) throw new Error(`the training run wrote no ${wanted.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The DNS port from `serve`'s "serving DNS" log line, and the log up to it. */
function listening(child) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('serve did not start within 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${text.slice(-300)}`)));
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

/** Table names, a ServiceEntry's VIP, AAAA, a forwarded name: each asked until it is answered. */
async function askAll(port) {
  const socket = createSocket('udp4');
  const questions = [
    ['productpage.default.svc.cluster.local', 1],
    ['productpage.default.svc.cluster.local', 28],
    ['db-a.example.com', 1],
    ['nothing.example.invalid', 1],
  ];
  const answered = new Set();
  socket.on('message', (m) => answered.add(m.readUInt16BE(0)));
  try {
    for (let round = 0; round < 50 && answered.size < questions.length; round++) {
      questions.forEach(([name, type], id) => {
        if (!answered.has(id)) socket.send(query(id, name, type), port, '127.0.0.1');
      });
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    socket.close();
  }
}

function query(id, name, type) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4); // QDCOUNT
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3); // IN
  return Buffer.concat([head, ...labels, tail]);
}
