// The state file's format. Version 2 adds where each allocation came from (`file`) and since when its
// entry has been absent from cleanly loaded snapshots (`absentSince`); version 1 is read as before and
// becomes version 2 on the next write. A newer or unknown version is refused, never overwritten: it
// may hold what this meshdns cannot keep.
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { MeshdnsError } from '../errors.js';
import { checked } from '../model/index.js';
import { allocationKey, type StoredAllocation } from './allocator.js';
import { bigIntToIp, ipToBigInt } from './range.js';

export const STATE_VERSION = 2;
const READABLE = [1, 2];

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
  /** One line per record skipped or field dropped: `allocations[2].v4 "x" is not ...; skipped`. */
  problems: string[];
}

/** The file as written: keys in one order, so an unchanged state gives the same bytes. */
export function serializeState(allocations: readonly StoredAllocation[]): string {
  const ordered = allocations.map(({ namespace, name, host, v4, v6, file, absentSince, outside }) => ({
    namespace,
    name,
    host,
    ...(v4 !== undefined ? { v4 } : {}),
    ...(v6 !== undefined ? { v6 } : {}),
    ...(file !== undefined ? { file } : {}),
    ...(absentSince !== undefined ? { absentSince } : {}),
    ...(outside !== undefined && outside.length > 0 ? { outside } : {}),
  }));
  return `${JSON.stringify({ version: STATE_VERSION, allocations: ordered }, null, 2)}\n`;
}

function versionRefused(file: string, version: unknown): MeshdnsError {
  const found = version === undefined ? 'no version' : `version ${quote(version)}`;
  const why = `${file}: the VIP state file has ${found}, and this meshdns reads versions ${READABLE.join(' and ')}; it is left untouched. Run the meshdns that wrote it, or move the file away (or pass another --state-file) to start from the manifests`;
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
  return out;
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
  return { allocations, problems };
}
