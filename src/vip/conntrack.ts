// Open connections of the NAT data plane, from the kernel's connection table: nothing of ours sees
// them (SPEC §8). Read when /debug/vips or /metrics asks, bounded, in the agent's network namespace.
import { closeSync, openSync, readSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';
import { routeKey } from './routes.js';

export type ConntrackCounts = { active: Map<string, number> } | { unavailable: string };

/** `2001:0002:0000:…` (conntrack's long form) → `2001:2::…`, the form VIPs are written in. */
function shortV6(address: string): string {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

/** Connections not yet closed, by original destination `VIP:port` (routeKey form). */
export function parseConntrack(text: string): Map<string, number> {
  const active = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.includes(' tcp ') || /\b(TIME_WAIT|CLOSE)\b/.test(line)) continue;
    // The first dst=/dport= are the original direction: what the client connected to.
    const dst = /\bdst=(\S+)/.exec(line)?.[1];
    const dport = /\bdport=(\d+)/.exec(line)?.[1];
    if (dst === undefined || dport === undefined) continue;
    const vip = dst.includes(':') ? shortV6(dst) : dst;
    const key = routeKey({ vip, port: Number(dport) });
    active.set(key, (active.get(key) ?? 0) + 1);
  }
  return active;
}

export function readConntrack(
  file = '/proc/net/nf_conntrack',
  maxBytes: number = DEFAULTS.vipConntrackMaxBytes,
): ConntrackCounts {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(maxBytes);
    let used = 0;
    // A /proc file hands out a page or so per read: read until it ends or the bound is reached.
    for (let n = -1; n !== 0 && used < maxBytes; used += n)
      n = readSync(fd, buf, used, maxBytes - used, null);
    return { active: parseConntrack(buf.toString('latin1', 0, used)) };
  } catch (err) {
    return { unavailable: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
