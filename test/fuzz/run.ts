// `npm run fuzz`: the long wire fuzz against `meshdns serve` on examples/ (issue 11 item 1).
// FUZZ_PACKETS (default 1,000,000), FUZZ_SECONDS (default 1,800), FUZZ_SEED (default: the time).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { runWireFuzz } from './wire.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const packets = Number(process.env.FUZZ_PACKETS ?? 1_000_000);
const seconds = Number(process.env.FUZZ_SECONDS ?? 1800);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 0x7fffffff);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const port = await freePort();
const child = spawn(
  process.execPath,
  [
    `${ROOT}bin/meshdns`,
    ...['serve', '--manifests', 'examples', '--upstream', '127.0.0.1:9', '--upstream-timeout', '200'],
    ...[
      '--dns-listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      '127.0.0.1:0',
      '--state-file',
      `/tmp/meshdns-fuzz-${process.pid}.json`,
    ],
  ],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
);
let exit: string | undefined;
child.on('exit', (code, signal) => {
  exit = `exited ${code ?? signal}`;
});
await new Promise((r) => setTimeout(r, 1500));
console.log(
  `fuzzing meshdns serve on 127.0.0.1:${port}: ${packets} packets, at most ${seconds} s, seed ${seed}`,
);
const report = await runWireFuzz({
  host: '127.0.0.1',
  port,
  packets,
  seconds,
  seed,
  good: { name: 'productpage.default.svc.cluster.local', address: '10.96.0.10' },
});
const crashed = exit !== undefined;
child.kill('SIGTERM');
console.log(JSON.stringify({ ...report, crashed, exit }, null, 2));
process.exitCode = crashed || report.badReplies.length > 0 || report.goodFailed.length > 0 ? 1 : 0;
