// Queries as a client sends them and a forwarder that is always closed, for the forwarder's tests.
import dnsPacket from 'dns-packet';
import { type Query, readQuery } from '../../src/dns/index.js';
import { Forwarder, type ForwarderOptions } from '../../src/upstream/index.js';

/** A client's query in wire form and as the server reads it. */
export function forwardQuery(
  name: string,
  type: 'A' | 'AAAA' | 'TXT',
  opts: { id?: number; edns?: boolean } = {},
): { buf: Buffer; q: Query } {
  const buf = dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 0xbeef,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: opts.edns
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 1232,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ]
      : [],
  });
  const q = readQuery(buf);
  if (typeof q === 'string') throw new Error(`test query for ${name} is not readable: ${q}`);
  return { buf, q };
}

/** Runs `use` with a new forwarder and closes it whatever happens. */
export async function withForwarder(
  opts: ForwarderOptions,
  use: (f: Forwarder) => Promise<void>,
): Promise<void> {
  const f = new Forwarder(opts);
  try {
    await use(f);
  } finally {
    await f.close();
  }
}
