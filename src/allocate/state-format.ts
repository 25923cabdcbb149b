// The state file's format. Version 2 adds where each allocation came from (`file`) and since when its
// entry has been absent from cleanly loaded snapshots (`absentSince`); version 1 is read as before and
// becomes version 2 on the next write. Version 3 adds the VIPs held back (`holdback`, issue 14 item 4);
// it is written only while some are, so a meshdns that reads version 2 still runs on a state without
// them. A newer or unknown version is refused, never overwritten: it may hold what this meshdns cannot keep.
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { MeshdnsError } from '../errors.js';
import { checked } from '../model/index.js';
import { allocationKey, type StoredAllocation } from './allocator.js';
import type { HeldBackVip } from './holdback.js';
import { bigIntToIp, ipToBigInt } from './range.js';

export const STATE_VERSION = 3;
/** What a state without held-back VIPs is written as. */
const PLAIN_VERSION = 2;
const READABLE = [1, 2, 3];

/** How a value is quoted in a message: short, so a huge record cannot make a huge log line. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The zod schemas, made when a record is not one this meshdns writes (zod loads on first use). */
function makeSchemas() {
  const { z } = checked();
  return {
    record: z.object({
      namespace: z.string().min(1),
      name: z.string().min(1),
      host: z.string().min(1),
      v4: z.ipv4({ error: (iss) => `${quote(iss.input)} is not an IPv4 address` }).optional(),
      v6: z.ipv6({ error: (iss) => `${quote(iss.input)} is not an IPv6 address` }).optional(),
    }),
    sourceFile: z.string().min(1),
    isoTime: z.iso.datetime({ offset: true }),
  };
}
let zodSchemas: ReturnType<typeof makeSchemas> | undefined;
const schemas = () => (zodSchemas ??= makeSchemas());

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';
/** An address as the allocator writes it (RFC 5952 for IPv6), which zod's ipv4/ipv6 take too. */
const written = (v: unknown, family: 4 | 6): v is string =>
  typeof v === 'string' && (family === 4 ? isIPv4(v) : isIPv6(v)) && bigIntToIp(ipToBigInt(v), family) === v;
/** `Date.toISOString()`'s form, as the allocator writes absentSince. */
const ISO_WRITTEN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const writtenTime = (v: unknown): v is string =>
  typeof v === 'string' && ISO_WRITTEN.test(v) && new Date(v).toISOString() === v;

/**
 * A record as this meshdns writes it, read without zod (a state file of 50,000 records cost zod's load
 * and about 10 µs a record at start); undefined for anything else, which zod then reads.
 */
function writtenRecord(value: unknown): StoredAllocation | undefined {
  if (!isObject(value)) return undefined;
  const { namespace, name, host, v4, v6 } = value;
  if (!nonEmpty(namespace) || !nonEmpty(name) || !nonEmpty(host)) return undefined;
  if ((v4 !== undefined && !written(v4, 4)) || (v6 !== undefined && !written(v6, 6))) return undefined;
  return { namespace, name, host, ...(v4 !== undefined ? { v4 } : {}), ...(v6 !== undefined ? { v6 } : {}) };
}

/** A whole file that is no state at all (empty, not JSON, not the expected shape): why, for the log. */
export type Damage = { damaged: string };

export interface ParsedState {
  allocations: StoredAllocation[];
  holdback: HeldBackVip[];
  /** One line per record skipped or field dropped: `allocations[2].v4 "x" is not ...; skipped`. */
  problems: string[];
}

/** The file as written: keys in one order, so an unchanged state gives the same bytes. */
export function serializeState(
  allocations: readonly StoredAllocation[],
  holdback: readonly HeldBackVip[] = [],
): string {
  const ordered = allocations.map((r) => ({
    namespace: r.namespace,
    name: r.name,
    host: r.host,
    ...(r.v4 !== undefined ? { v4: r.v4 } : {}),
    ...(r.v6 !== undefined ? { v6: r.v6 } : {}),
    ...(r.file !== undefined ? { file: r.file } : {}),
    ...(r.absentSince !== undefined ? { absentSince: r.absentSince } : {}),
    ...(r.outside !== undefined && r.outside.length > 0 ? { outside: r.outside } : {}),
    ...(r.wildcard !== undefined ? { wildcard: r.wildcard } : {}),
    ...(r.askedAt !== undefined ? { askedAt: r.askedAt } : {}),
  }));
  if (holdback.length === 0)
    return `${JSON.stringify({ version: PLAIN_VERSION, allocations: ordered }, null, 2)}\n`;
  const held = holdback.map(({ namespace, name, host, v4, v6, since }) => ({
    namespace,
    name,
    host,
    ...(v4 !== undefined ? { v4 } : {}),
    ...(v6 !== undefined ? { v6 } : {}),
    since,
  }));
  return `${JSON.stringify({ version: STATE_VERSION, allocations: ordered, holdback: held }, null, 2)}\n`;
}

function versionRefused(file: string, version: unknown): MeshdnsError {
  const found = version === undefined ? 'no version' : `version ${quote(version)}`;
  const versions = `${READABLE.slice(0, -1).join(', ')} and ${READABLE.at(-1)}`;
  const why = `${file}: the VIP state file has ${found}, and this meshdns reads versions ${versions}; it is left untouched. Run the meshdns that wrote it, or move the file away (or pass another --state-file) to start from the manifests`;
  return new MeshdnsError('MESHDNS_STATE_VERSION', why);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One record: the allocation, or why it is skipped; bad optional fields are dropped, not the VIPs. */
function parseRecord(value: unknown, at: string, problems: string[]): StoredAllocation | undefined {
  let out = writtenRecord(value);
  if (!out) {
    const { data, errors } = checked().check(schemas().record, value, []);
    if (!data) {
      const why = errors.map((e) => (e.path ? `${at}.${e.path} ${e.message}` : `${at}: ${e.message}`));
      problems.push(`${why.join(', ')}; the record is skipped`);
      return undefined;
    }
    out = data;
  }
  const raw = value as Record<string, unknown>;
  if (raw.file !== undefined) {
    if (nonEmpty(raw.file)) out.file = raw.file;
    else
      problems.push(
        `${at}.file ${quote(raw.file)} is not a file name; the field is dropped (the VIPs are kept)`,
      );
  }
  if (raw.absentSince !== undefined) {
    if (writtenTime(raw.absentSince) || schemas().isoTime.safeParse(raw.absentSince).success)
      out.absentSince = raw.absentSince as string;
    else
      problems.push(
        `${at}.absentSince ${quote(raw.absentSince)} is not an ISO-8601 time; the field is dropped (the entry counts as present)`,
      );
  }
  if (raw.outside !== undefined) {
    // Addresses held in other ranges: each bad one is dropped alone, the others still restore on a switch back.
    const list = Array.isArray(raw.outside) ? raw.outside : [];
    const good = list.filter((v): v is string => typeof v === 'string' && isIP(v) !== 0);
    if (good.length > 0) out.outside = good;
    if (good.length !== list.length || !Array.isArray(raw.outside))
      problems.push(`${at}.outside has entries that are not IP addresses; those are dropped`);
  }
  perNameFields(raw, out, at, problems);
  return out;
}

/**
 * A per-name host's wildcard and last question (issue 14 item 5). Optional fields, so version 2 still
 * describes the file: a meshdns without per-name VIPs reads such a record as a host its entry no longer
 * lists (held, then held back), never as an error.
 */
function perNameFields(
  raw: Record<string, unknown>,
  out: StoredAllocation,
  at: string,
  problems: string[],
): void {
  if (raw.wildcard !== undefined) {
    if (nonEmpty(raw.wildcard) && raw.wildcard.startsWith('*.')) out.wildcard = raw.wildcard;
    else
      problems.push(
        `${at}.wildcard ${quote(raw.wildcard)} is not a wildcard host; the field is dropped (the name keeps its VIPs until its grace period ends)`,
      );
  }
  if (raw.askedAt !== undefined) {
    if (writtenTime(raw.askedAt) || schemas().isoTime.safeParse(raw.askedAt).success)
      out.askedAt = raw.askedAt as string;
    else
      problems.push(
        `${at}.askedAt ${quote(raw.askedAt)} is not an ISO-8601 time; the field is dropped (the name counts as asked at start)`,
      );
  }
}

/**
 * Reads the text of a state file named `file`: its allocations and the records skipped, or the
 * damage that makes the whole file unusable. Throws MESHDNS_STATE_VERSION for a version it does not know.
 */
export function parseState(text: string, file: string): ParsedState | Damage {
  if (text.trim() === '') return { damaged: 'is empty' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { damaged: `is not JSON (${(e as Error).message})` };
  }
  if (!isObject(value)) {
    return { damaged: 'is not a VIP state file (expected an object with "version" and "allocations")' };
  }
  if (!READABLE.includes(value.version as number)) throw versionRefused(file, value.version);
  if (!Array.isArray(value.allocations)) return { damaged: 'has no "allocations" list' };

  const problems: string[] = [];
  const allocations: StoredAllocation[] = [];
  const seen = new Map<string, number>();
  value.allocations.forEach((item: unknown, i: number) => {
    const at = `allocations[${i}]`;
    const parsed = parseRecord(item, at, problems);
    if (!parsed) return;
    const key = allocationKey(parsed.namespace, parsed.name, parsed.host);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push(`${at}: ${key} is also in allocations[${first}], which is kept; the record is skipped`);
      return;
    }
    seen.set(key, i);
    allocations.push(parsed);
  });
  return { allocations, holdback: parseHoldback(value.holdback, problems), problems };
}

/**
 * The held-back VIPs, each read alone: a bad one is skipped and named (its addresses are then free for
 * others, the one thing hold-back guards against, so the message says so).
 */
function parseHoldback(value: unknown, problems: string[]): HeldBackVip[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push(`holdback ${quote(value)} is not a list; no VIP is held back`);
    return [];
  }
  const out: HeldBackVip[] = [];
  value.forEach((item: unknown, i: number) => {
    const at = `holdback[${i}]`;
    const why = holdbackProblem(item);
    if (why) problems.push(`${at}${why}; it is skipped (its VIPs are not held back)`);
    else out.push(heldBackOf(item as Record<string, unknown>));
  });
  return out;
}

function holdbackProblem(item: unknown): string | undefined {
  if (!isObject(item)) return ` ${quote(item)} is not an object`;
  for (const key of ['namespace', 'name', 'host'] as const)
    if (!nonEmpty(item[key])) return `.${key} ${quote(item[key])} is not a non-empty string`;
  const { v4, v6, since } = item;
  if (v4 !== undefined && !(typeof v4 === 'string' && isIPv4(v4)))
    return `.v4 ${quote(v4)} is not an IPv4 address`;
  if (v6 !== undefined && !(typeof v6 === 'string' && isIPv6(v6)))
    return `.v6 ${quote(v6)} is not an IPv6 address`;
  if (v4 === undefined && v6 === undefined) return ' has neither v4 nor v6';
  if (!(writtenTime(since) || schemas().isoTime.safeParse(since).success))
    return `.since ${quote(since)} is not an ISO-8601 time`;
  return undefined;
}

function heldBackOf(item: Record<string, unknown>): HeldBackVip {
  const h: HeldBackVip = {
    namespace: item.namespace as string,
    name: item.name as string,
    host: item.host as string,
    since: new Date(item.since as string).toISOString(),
  };
  // The allocator's own form (RFC 5952), so the address compares equal to what it hands out.
  if (item.v4 !== undefined) h.v4 = bigIntToIp(ipToBigInt(item.v4 as string), 4);
  if (item.v6 !== undefined) h.v6 = bigIntToIp(ipToBigInt(item.v6 as string), 6);
  return h;
}
