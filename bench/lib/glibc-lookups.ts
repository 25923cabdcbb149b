// The search-path workload's client: glibc's getaddrinfo (A and AAAA, AF_UNSPEC, no hints, as
// `getent ahosts`) through Node's dns.lookup, one name of a file per pace, each timed. Run inside the
// mount namespace whose /etc/resolv.conf is the workload's; prints {"failed":N,"ms":[...]} on stdout.
//   node dist/bench/lib/glibc-lookups.js NAMES_FILE PACE_MS
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [file, pace] = process.argv.slice(2);
const names = readFileSync(file!, 'utf8').split('\n').filter(Boolean);
const ms: number[] = [];
let failed = 0;
for (const name of names) {
  const at = performance.now();
  try {
    await lookup(name, { all: true, family: 0, hints: 0 });
  } catch {
    failed++;
  }
  ms.push(performance.now() - at);
  await sleep(Number(pace));
}
process.stdout.write(`${JSON.stringify({ failed, ms })}\n`);
