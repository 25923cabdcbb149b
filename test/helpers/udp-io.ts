// The UDP I/O paths the server tests run on (issue 12): both where the netio addon is built, which CI
// makes sure of (test/component/netio.test.ts fails where cc and Node's headers are but the addon is not).
import { batchSocketSupport } from '../../src/netio/index.js';
import type { Proto } from './dns-client.js';

export type UdpPathName = 'native' | 'dgram';

export const UDP_PATHS: UdpPathName[] = batchSocketSupport().available ? ['native', 'dgram'] : ['dgram'];

/** A table of cases runs over UDP on each path, and over TCP once. */
export const TRANSPORTS: { proto: Proto; io: UdpPathName; label: string }[] = [
  ...UDP_PATHS.map((io) => ({ proto: 'udp' as const, io, label: `udp (${io})` })),
  { proto: 'tcp', io: UDP_PATHS[0], label: 'tcp' },
];
