// resolv.conf(5) as glibc reads it (resolv/res_init.c), and upstream addresses given as flags.
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { DEFAULTS } from '../defaults.js';
import { DNS_PORT, isCheckedIPv6 } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';

/** glibc's caps on resolv.conf options (resolv/resolv.h: RES_MAXNDOTS, RES_MAXRETRANS, RES_MAXRETRY). */
const GLIBC_MAX = { ndots: 15, timeoutSeconds: 30, attempts: 5 } as const;

export interface ResolvConf {
  /**
   * Server addresses in file order (IPv6 may carry a `%scope`). All are kept, although glibc
   * uses only the first three (MAXNS); the forwarder can fail over across more.
   */
  nameservers: string[];
  /**
   * The file names no usable server, so `nameservers` is glibc's fallback (the local host). Kept,
   * as glibc does, but worth a warning: on most hosts nothing answers on 127.0.0.1:53.
   */
  defaulted: boolean;
  /** Search domains, lower-case, no trailing dot. */
  search: string[];
  ndots: number;
  /** Per-try timeout (`options timeout:N`, seconds in the file). */
  timeoutMs: number;
  attempts: number;
  rotate: boolean;
}

export interface UpstreamServer {
  host: string;
  port: number;
}

/** "1.2.3.4:53", "[::1]:53": the form used in logs, stats and metrics. */
export function formatUpstream(server: UpstreamServer): string {
  return isCheckedIPv6(server.host) ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

/**
 * Parses resolv.conf text with glibc's rules: a keyword counts only at the start of a line and
 * must be followed by a space or tab; `#` and `;` start comments; unknown lines are ignored;
 * invalid nameserver addresses are skipped; the last `search` or `domain` line wins.
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  let ndots: number = DEFAULTS.resolvNdots;
  let timeoutSeconds: number = DEFAULTS.resolvTimeoutSeconds;
  let attempts: number = DEFAULTS.upstreamAttempts;
  let rotate = false;

  for (const line of text.split(/\r?\n/)) {
    const match = /^(nameserver|search|domain|options)[ \t]+(.*)$/.exec(line);
    if (!match) continue;
    const words = withoutComment(match[2]);
    if (words.length === 0) continue;
    switch (match[1]) {
      case 'nameserver':
        if (isNameserverAddress(words[0])) nameservers.push(words[0]);
        break;
      case 'domain':
        // `domain` names one domain; glibc then searches only it.
        search = searchDomains(words.slice(0, 1));
        break;
      case 'search':
        search = searchDomains(words);
        break;
      case 'options':
        for (const word of words) {
          if (word === 'rotate') rotate = true;
          ndots = option(word, 'ndots:', 0, GLIBC_MAX.ndots) ?? ndots;
          // glibc treats timeout:0 as 1 s and attempts:0 as "no try at all"; both are clamped to 1 here.
          timeoutSeconds = option(word, 'timeout:', 1, GLIBC_MAX.timeoutSeconds) ?? timeoutSeconds;
          attempts = option(word, 'attempts:', 1, GLIBC_MAX.attempts) ?? attempts;
        }
        break;
    }
  }
  const defaulted = nameservers.length === 0;
  if (defaulted) nameservers.push(DEFAULTS.resolvNameserver);
  return { nameservers, defaulted, search, ndots, timeoutMs: timeoutSeconds * 1000, attempts, rotate };
}

/** Reads and parses a resolv.conf; an unreadable file is a startup error that says what to do. */
export async function readResolvConf(path: string): Promise<ResolvConf> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MeshdnsError(
      'MESHDNS_RESOLV_CONF',
      `${path}: cannot read it (${reason}); fix the path or name the servers with --upstream`,
      { cause: err },
    );
  }
  return parseResolvConf(text);
}

/**
 * Parses an `--upstream` value: `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]`, `[fe80::1%eth0]:53`.
 * Host names are refused: the forwarder is where names get resolved, so it cannot depend on one.
 */
/**
 * Every IPv6 address has two colons or more; an IPv4 address with its port has one. Testing this first
 * keeps IPv4 upstreams away from net.isIPv6, whose first call is slow (see dns/address.ts).
 */
function hasTwoColons(value: string): boolean {
  return value.indexOf(':') !== value.lastIndexOf(':');
}

export function parseUpstreamAddress(spec: string, defaultPort = DNS_PORT): UpstreamServer {
  const value = spec.trim();
  const fail = (reason: string): never => {
    throw new MeshdnsError(
      'MESHDNS_FLAG_INVALID',
      `upstream "${spec}": ${reason}; expected IP, IPv4:PORT or [IPv6]:PORT, e.g. 10.96.0.10:53 or [fd00::a]:53`,
    );
  };
  if (value === '') return fail('empty address');
  let host = value;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
    if (!isIPv6(host)) return fail(`"${host}" in brackets is not an IPv6 address`);
  } else if (!(hasTwoColons(value) && isIPv6(value))) {
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      portText = value.slice(colon + 1);
    }
    if (!isIPv4(host)) return fail(`"${host}" is not an IP address (host names are not accepted)`);
  }
  let port = defaultPort;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) return fail(`port "${portText}" is not a number from 1 to 65535`);
  }
  return { host, port };
}

/** Words of a line up to a `#` or `;` comment. glibc only knows whole-line comments; this is kinder. */
function withoutComment(rest: string): string[] {
  const words: string[] = [];
  for (const word of rest.split(/[ \t]+/)) {
    if (word.startsWith('#') || word.startsWith(';')) break;
    if (word !== '') words.push(word);
  }
  return words;
}

function isNameserverAddress(word: string): boolean {
  return isIPv4(word) || isIPv6(word);
}

function searchDomains(words: string[]): string[] {
  const out: string[] = [];
  for (const word of words) {
    const name = word.toLowerCase().replace(/\.+$/, '');
    if (name !== '') out.push(name);
  }
  return out;
}

/** `ndots:3` → 3 clamped to [min, max]; undefined when the word is another option or not a number. */
function option(word: string, prefix: string, min: number, max: number): number | undefined {
  if (!word.startsWith(prefix)) return undefined;
  const text = word.slice(prefix.length);
  if (!/^\d+$/.test(text)) return undefined;
  return Math.min(max, Math.max(min, Number(text)));
}
