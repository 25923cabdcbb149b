// `meshdns lookup NAME`: asks the agent like an application would and prints the answer the way
// `dig +short` does (one RDATA per line), or everything as JSON.
import { parseQtype, presentMessage, qtypeName } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import { askServer, buildQuery, cryptoRandom } from '../upstream/index.js';
import { flagError, parseListen, parseMilliseconds } from './flags.js';

export interface LookupFlags {
  type: string;
  server: string;
  tcp?: boolean;
  timeout: string;
  output: string;
}

/** RFC 6891: advertise our EDNS buffer size, as dig does, so answers up to it come over UDP. */
function withEdns(query: Buffer): Buffer {
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
  const out = Buffer.concat([query, opt]);
  out.writeUInt16BE(1, 10);
  return out;
}

export async function lookup(name: string, flags: LookupFlags): Promise<void> {
  const qtype = parseQtype(flags.type);
  if (qtype === undefined)
    throw flagError('--type', flags.type, 'not a DNS type (A, AAAA, MX, TXT, TYPE65…)');
  const server = parseListen('--server', flags.server);
  const timeoutMs = parseMilliseconds('--timeout', flags.timeout);
  let query: Buffer;
  try {
    query = withEdns(buildQuery(name, qtype, Math.floor(cryptoRandom()() * 0x10000)));
  } catch {
    throw new MeshdnsError('MESHDNS_FLAG_INVALID', `"${name}" is not a domain name`);
  }
  const reply = await askServer(server, query, { tcp: flags.tcp, timeoutMs });
  if (typeof reply === 'string') {
    throw new MeshdnsError(
      'MESHDNS_NO_ANSWER',
      `no answer from ${flags.server} (${reply}); is meshdns serving there? (--server ADDR:PORT)`,
    );
  }
  const msg = presentMessage(reply);
  if (flags.output === 'json') {
    const out = { name, type: qtypeName(qtype), server: flags.server, ...msg };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  for (const r of msg.answers) process.stdout.write(`${r.data}\n`);
  // dig +short prints nothing for NXDOMAIN; say it on stderr so scripts reading stdout are unaffected.
  if (msg.rcode !== 'NOERROR') process.stderr.write(`${msg.rcode}\n`);
}
