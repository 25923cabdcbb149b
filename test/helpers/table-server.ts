// A DNS server answering from the sample mesh's table only, on an ephemeral loopback port.
import { buildNameTable } from '../../src/nametable/index.js';
import { DnsServer, Pipeline, TableStage, type TcpLimits, type UdpIo } from '../../src/server/index.js';
import { sampleMesh } from './resources.js';

/** A pipeline of one table stage holding the sample mesh's table. */
export function tablePipeline(searchDomains: string[] = []): Pipeline {
  const stage = new TableStage();
  stage.set(
    buildNameTable(sampleMesh(), { namespace: 'default', clusterDomain: 'cluster.local', searchDomains }),
  );
  return new Pipeline([stage]);
}

export async function startTableServer(
  opts: { searchDomains?: string[]; tcp?: Partial<TcpLimits>; udpIo?: UdpIo } = {},
): Promise<DnsServer> {
  const server = new DnsServer({
    host: '127.0.0.1',
    port: 0,
    pipeline: tablePipeline(opts.searchDomains),
    tcp: opts.tcp,
    udp: { io: opts.udpIo ?? 'auto' },
  });
  await server.start();
  return server;
}
