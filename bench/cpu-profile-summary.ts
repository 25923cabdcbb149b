// Where a process's time went, from a V8 .cpuprofile (`node --cpu-prof`): self time per function, and
// per file, optionally only between two moments (seconds after the profile began), e.g. the window the
// controlplane scenario prints for its change loop.
//
// node dist/bench/cpu-profile-summary.js FILE.cpuprofile [FROM_S TO_S] [TOP]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const DEFAULT_TOP = 25;

function shortUrl(url: string): string {
  const at = url.search(/\/(dist|node_modules)\//);
  return at >= 0 ? url.slice(at + 1) : url.replace(/^file:\/\//, '') || '(native)';
}

function main(): void {
  const [file, fromText, toText, topText] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpu-profile-summary.js FILE.cpuprofile [FROM_S TO_S] [TOP]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const from = fromText === undefined ? 0 : Number(fromText) * 1e6;
  const to = toText === undefined ? Number.POSITIVE_INFINITY : Number(toText) * 1e6;
  const top = topText === undefined ? DEFAULT_TOP : Number(topText);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  /** Self plus callees: a sample counts once for every function on its stack. */
  const inclusive = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  };
  let t = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    // A sample's time is the gap to the next one: attribute it to the node sampled.
    t += profile.timeDeltas[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < from || t > to) return;
    const node = byId.get(id);
    if (!node) return;
    const url = shortUrl(node.callFrame.url);
    const key = keyOf(node);
    byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (n) onStack.add(keyOf(n));
    }
    for (const k of onStack) inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    byFile.set(url, (byFile.get(url) ?? 0) + dt);
    total += dt;
  });
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(
        `  ${(us / 1000).toFixed(0).padStart(8)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}\n`,
      );
    }
  };
  const window = fromText === undefined ? 'whole profile' : `${fromText}-${toText} s`;
  process.stdout.write(`${file}: ${window}, ${(total / 1e6).toFixed(1)} s sampled\n`);
  print('self time by function:', byFunction);
  print('self time by file:', byFile);
  print('inclusive time by function (self + callees):', inclusive);
}

main();
