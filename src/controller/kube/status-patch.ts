// `status.addresses` of a ServiceEntry in Istio's layout — `[{value, host}]`, one per host per family — and
// the RFC 6902 patch that writes it only over the value it read. Pure functions: the writer does the I/O.
import { isIP } from 'node:net';
import { type HostVips, ipToBigInt, type VipRanges } from '../../allocate/index.js';
import { normalizeHost } from '../../model/index.js';

export interface StatusAddress {
  value: string;
  host: string;
}

/** One RFC 6902 operation, as the API server takes it in an `application/json-patch+json` body. */
export interface PatchOp {
  op: 'test' | 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/**
 * What a read found at the ServiceEntry's status: no `status` at all, a status without `addresses`, or the
 * addresses exactly as stored (raw JSON, so a `test` compares against the very bytes the server holds).
 */
export type StatusRead =
  | { kind: 'no-status' }
  | { kind: 'no-addresses' }
  | { kind: 'addresses'; raw: unknown };

/** The status part of an object as read from the API. */
export function readStatus(obj: unknown): StatusRead {
  const status = (obj as { status?: unknown } | undefined)?.status;
  if (status === undefined || status === null) return { kind: 'no-status' };
  if (typeof status !== 'object' || !Object.hasOwn(status, 'addresses')) return { kind: 'no-addresses' };
  return { kind: 'addresses', raw: (status as { addresses: unknown }).addresses };
}

/** The addresses a read holds, in our one host form; an item that is no `{value, host}` pair is kept as-is, so it never matches. */
export function addressesOf(read: StatusRead): StatusAddress[] {
  if (read.kind !== 'addresses' || !Array.isArray(read.raw)) return [];
  return read.raw.map((a: unknown) => {
    const { value, host } = (a ?? {}) as { value?: unknown; host?: unknown };
    return typeof value === 'string' && typeof host === 'string'
      ? { value, host: normalizeHost(host) }
      : { value: JSON.stringify(a), host: '' };
  });
}

/**
 * The addresses an entry should hold: each host of the entry that has VIPs, in the entry's host order, IPv4
 * then IPv6 (as Istio's allocator writes them). `hosts` are one entry's HostVips; hosts without VIPs
 * (exhausted, not eligible) hold none. Then the names asked under a per-name wildcard of the entry (issue 14
 * item 5), each with `host` the name (Istio's `{value, host}` holds any host the entry answers for), in the
 * order of `hosts`: status is where a restarted controller, or a new leader, finds them again.
 */
export function desiredAddresses(hosts: readonly HostVips[]): StatusAddress[] {
  if (hosts.length === 0) return [];
  // Most entries have a host or two: a scan costs less than a Map (sync() runs this for every entry).
  const byHost = hosts.length > 8 ? new Map(hosts.map((h) => [h.host, h])) : undefined;
  // A per-name copy holds one name as its hosts: the spec's hosts are the entry's own.
  const own =
    hosts[0]!.entry.perNameOf === undefined ? hosts[0]! : hosts.find((h) => h.entry.perNameOf === undefined);
  const specHosts = own?.entry.hosts ?? [];
  const out: StatusAddress[] = [];
  const add = (h: HostVips | undefined, host: string) => {
    if (!h || h.state === 'exhausted') return;
    if (h.v4) out.push({ value: h.v4, host });
    if (h.v6) out.push({ value: h.v6, host });
  };
  for (const host of specHosts.length > 1 ? new Set(specHosts) : specHosts) {
    add(
      byHost ? byHost.get(host) : hosts.find((x) => x.host === host && x.entry.perNameOf === undefined),
      host,
    );
  }
  for (const h of hosts) if (h.entry.perNameOf !== undefined && !specHosts.includes(h.host)) add(h, h.host);
  return out;
}

const key = (a: StatusAddress) => `${a.host} ${a.value}`;

/**
 * The addresses of `seen` (status as read) that lie outside the current VIP ranges, of hosts the entry still
 * has, and are not among `ours`: kept in status untouched, after ours, as the state file keeps them aside
 * (issue 8), so switching the range back can restore them. Not served: the allocator reads a host's first
 * address of each family, which is ours. Values that are no IP address are not kept.
 */
export function keptOutside(
  seen: readonly StatusAddress[],
  ours: readonly StatusAddress[],
  specHosts: readonly string[],
  ranges: VipRanges,
): StatusAddress[] {
  if (seen.length === 0) return [];
  const hosts = new Set(specHosts);
  const mine = new Set(ours.map(key));
  return seen.filter((a) => {
    if (!hosts.has(a.host) || mine.has(key(a))) return false;
    const family = isIP(a.value);
    if (family === 0) return false;
    const range = family === 4 ? ranges.v4 : ranges.v6;
    const v = ipToBigInt(a.value);
    return v < range.first || v > range.last;
  });
}

/** Same addresses for the same hosts, whatever the order: order carries no meaning and must not cause writes. */
export function sameAddresses(a: readonly StatusAddress[], b: readonly StatusAddress[]): boolean {
  if (a.length !== b.length) return false;
  // The usual case, status as we wrote it, without building keys.
  if (a.every((x, i) => x.value === b[i]!.value && x.host === b[i]!.host)) return true;
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((k, i) => k === right[i]);
}

/**
 * The JSON patch that writes `desired` only if the status still is what `read` saw: its first operation
 * `test`s that value (a member absent from an existing object reads as null, as in kube-apiserver's JSON
 * patch), so a status another writer changed since makes the server answer 422 and change nothing.
 * Empty when there is nothing to write.
 */
export function addressesPatch(read: StatusRead, desired: readonly StatusAddress[]): PatchOp[] {
  const value = desired.map((a) => ({ value: a.value, host: a.host }));
  switch (read.kind) {
    case 'no-status':
      // A status written meanwhile (even without addresses) fails the test: it is re-read, never replaced.
      return value.length === 0
        ? []
        : [
            { op: 'test', path: '/status', value: null },
            { op: 'add', path: '/status', value: { addresses: value } },
          ];
    case 'no-addresses':
      return value.length === 0
        ? []
        : [
            { op: 'test', path: '/status/addresses', value: null },
            { op: 'add', path: '/status/addresses', value },
          ];
    case 'addresses': {
      const test: PatchOp = { op: 'test', path: '/status/addresses', value: read.raw };
      return value.length === 0
        ? [test, { op: 'remove', path: '/status/addresses' }]
        : [test, { op: 'replace', path: '/status/addresses', value }];
    }
  }
}
