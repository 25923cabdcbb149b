// `npm run build` / `npm ci`, after tsc: the CLI and the controller's worker thread bundled into
// dist/bundle/ with esbuild, which bin/meshdns runs. Why: Node 20 loads each ES module separately
// (resolve, read, compile, link), and `serve` loads about 60 of ours and 150 of its dependencies'
// on each of its two threads before the first answer and before reading a manifest; one file per
// command loads in about half the time (SPEC §4: forward from the first moment).
//
// The code is the same as dist/src (tsc's output is the input). The packages that only the
// `controller` and `agent` commands load, on demand, stay in node_modules.
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a hash of their content: the last build's would stay beside the new ones.
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  // checked.js is loaded with `require` where it is first needed (src/model/lazy.ts): zod and the
  // converters built on it stay out of the worker's start.
  entryPoints: {
    main: 'dist/src/cli/main.js',
    worker: 'dist/src/controller/worker.js',
    'answering-worker': 'dist/src/agent/answering-worker.js',
    checked: 'dist/src/model/checked.js',
  },
  outdir: 'dist/bundle',
  bundle: true,
  // Commands and lazily loaded parts stay lazy: each dynamic import becomes a chunk of its own.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // remote.ts starts `new URL('./worker.js', import.meta.url)` and answering-workers.ts
  // `./answering-worker.js`: the worker entries sit beside the chunks.
  entryNames: '[name]',
  external: ['@kubernetes/client-node', '@grpc/grpc-js', 'protobufjs'],
  // The CommonJS packages bundled (pino, commander, yaml, prom-client) call `require` for Node's
  // own modules, which an ES module has no global for.
  banner: {
    js: "import { createRequire as __meshdnsRequire } from 'node:module'; const require = __meshdnsRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// A native addon is found beside the code that loads it (`new URL('./x.node', import.meta.url)`): in the
// bundle that is dist/bundle/, so the ones the build made are copied there.
for (const addon of ['netio/netio.node', 'netio/relay.node']) {
  const from = `dist/src/${addon}`;
  if (existsSync(from)) copyFileSync(from, `dist/bundle/${addon.split('/').pop()}`);
}
