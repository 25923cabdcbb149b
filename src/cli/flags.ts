// Flag values checked once at the edge; a bad value is a one-line error naming the flag. Only light
// imports here: every command loads this file (the parsers that need the mesh model are in mesh-flags.ts).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Option } from 'commander';
import { MeshdnsError } from '../errors.js';

/** A file a flag names (a certificate, a key), read now so a wrong path fails at start naming the flag. */
export function readFlagFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw flagError(flag, file, (err as Error).message);
  }
}

export function flagError(flag: string, value: string, why: string): MeshdnsError {
  return new MeshdnsError('MESHDNS_FLAG_INVALID', `${flag} "${value}": ${why}`);
}

/** "127.0.0.1:15053" or "[::1]:15053". */
export function parseListen(flag: string, value: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m) throw flagError(flag, value, 'expected ADDR:PORT, e.g. 127.0.0.1:15053 or [::1]:15053');
  const [, host, portText] = m;
  if (isIP(host) === 0) throw flagError(flag, value, `"${host}" is not an IP address`);
  const port = Number(portText);
  if (port > 65535) throw flagError(flag, value, 'port must be 0-65535');
  return { host, port };
}

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer delay silently becomes 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** RFC 2181 §8: a TTL is at most 2^31-1 seconds; no duration in seconds needs more. */
export const MAX_SECONDS = 2 ** 31 - 1;

export function parsePositiveInt(
  flag: string,
  value: string,
  max = Number.MAX_SAFE_INTEGER,
  unit = '',
): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw flagError(flag, value, 'expected a positive whole number');
  if (n > max) throw flagError(flag, value, `at most ${max}${unit}`);
  return n;
}

/** A delay that ends up in a timer: refused above what a timer holds, instead of turning into 1 ms. */
export function parseMilliseconds(flag: string, value: string): number {
  return parsePositiveInt(flag, value, MAX_TIMER_MS, ' ms (about 24.8 days: the longest timer Node holds)');
}

/** A duration in seconds (TTLs, ages): bounded as a DNS TTL is. */
export function parseSeconds(flag: string, value: string): number {
  return parsePositiveInt(flag, value, MAX_SECONDS, ' s (the longest TTL, RFC 2181 §8)');
}

export function parseDomain(flag: string, value: string): string {
  const d = value.toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/.test(d) || d.includes('..'))
    throw flagError(flag, value, 'not a domain name');
  return d;
}

/** `--output text|json`: every command that prints a table or an answer takes it (STYLE.md §14). */
export function outputOption(): Option {
  return new Option('--output <format>', 'output format').choices(['text', 'json']).default('text');
}
