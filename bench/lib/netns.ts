// A scenario that changes the network (the `vip` scenario's NAT rules, which also switch conntrack on
// for every connection they see) runs in a network namespace of its own: the machine's rules and
// connection tracking, which other work on a shared machine measures against, are never touched.
// run.ts re-runs itself for that one scenario under `ip netns exec`; every path of it runs there.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Set in the child: the namespace it runs in. */
export const NETNS_ENV = 'MESHDNS_BENCH_NETNS';

export function inBenchNetns(): string | undefined {
  return process.env[NETNS_ENV] || undefined;
}

/** Runs `node <script> <scenario>` in a fresh namespace (loopback up), inheriting stdio; then removes it. */
export async function runInNetns(
  script: string,
  scenario: string,
  log: (line: string) => void,
): Promise<void> {
  const name = `meshdns-bench-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  try {
    execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    // Tens of thousands of connections a second (the `vip` scenario's wrk) leave as many sockets in
    // TIME_WAIT for 60 s, and the port search of every later connect() walks them: each path was
    // measured in whatever the paths before it left (runs of one path differed by up to 93%). A small
    // bound on TIME_WAIT sockets and a wide port range give every path the same clean state.
    execFileSync('ip', [
      ...['netns', 'exec', name, 'sysctl', '-q', '-w'],
      ...['net.ipv4.tcp_max_tw_buckets=4096', 'net.ipv4.ip_local_port_range=16384 65535'],
    ]);
    log(`${scenario}: in network namespace ${name} (its NAT rules and conntrack stay there)`);
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, script, scenario], {
      stdio: 'inherit',
      env: { ...process.env, [NETNS_ENV]: name },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (code !== 0) throw new Error(`${scenario} in network namespace ${name} exited with ${code}`);
  } finally {
    execFileSync('ip', ['netns', 'del', name]);
  }
}
