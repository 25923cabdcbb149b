// `npm run fuzz`: the long wire fuzz (issue 11 item 1) against `meshdns serve` on examples/ and against
// `meshdns agent` fed examples/ by a controller, one after the other. FUZZ_TARGET (serve, agent, or
// both, the default), FUZZ_PACKETS per target (default 1,000,000), FUZZ_SECONDS per target (default
// 1,800), FUZZ_SEED (default: the time).
import { rmSync } from 'node:fs';
import { GOOD, startTarget, TARGET_NAMES, type TargetName } from './targets.js';
import { runWireFuzz } from './wire.js';

const packets = Number(process.env.FUZZ_PACKETS ?? 1_000_000);
const seconds = Number(process.env.FUZZ_SECONDS ?? 1800);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 0x7fffffff);
const wanted = process.env.FUZZ_TARGET ?? 'both';
const targets = wanted === 'both' ? [...TARGET_NAMES] : [wanted as TargetName];
if (!targets.every((t) => TARGET_NAMES.includes(t))) {
  throw new Error(`FUZZ_TARGET="${wanted}": expected ${TARGET_NAMES.join(', ')} or both`);
}

let failed = false;
for (const name of targets) {
  const stateFile = `/tmp/meshdns-fuzz-${process.pid}-${name}.json`;
  const target = await startTarget(name, stateFile);
  console.log(
    `fuzzing meshdns ${name} on 127.0.0.1:${target.port}: ${packets} packets, at most ${seconds} s, seed ${seed}`,
  );
  const report = await runWireFuzz({
    host: '127.0.0.1',
    port: target.port,
    packets,
    seconds,
    seed,
    good: GOOD,
  });
  const exit = target.exit();
  const crashed = exit !== undefined;
  await target.stop();
  rmSync(stateFile, { force: true });
  console.log(JSON.stringify({ target: name, ...report, crashed, exit }, null, 2));
  failed ||= crashed || report.badReplies.length > 0 || report.goodFailed.length > 0;
}
process.exitCode = failed ? 1 : 0;
