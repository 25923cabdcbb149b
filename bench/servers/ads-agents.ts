// Many agents in one process, for the controlplane scenario: each a raw ADS stream (its own gRPC
// channel) that subscribes like `meshdns agent` (workload config, name table, VIP routes) over delta ADS
// as `meshdns agent` does (BENCH_CP_PROTOCOL=sotw: state of the world, as an Istio agent), ACKs every
// response and records when it came and its version, without decoding the table: decoding hundreds of
// tables here would measure this process's CPU, not the controller's.
//
// node dist/bench/servers/ads-agents.js '{"target":"127.0.0.1:15010","agents":200,"namespaces":10,"records":"/tmp/r"}'
// Records: one JSON line per response, {"a":agent,"t":"N"|"V"|"W","v":version,"at":wall-clock ms,"b":bytes}.
import { appendFileSync } from 'node:fs';
import net from 'node:net';
import { type ChannelOptions, Client, credentials, Metadata } from '@grpc/grpc-js';
import { DELTA_METHOD_PATH, encodeDeltaRequest } from '../../src/xds/delta-messages.js';
import {
  agentNode,
  NAME_TABLE_TYPE_URL,
  VIP_ROUTES_TYPE_URL,
  WORKLOAD_CONFIG_TYPE_URL,
} from '../../src/xds/index.js';
import {
  ADS_METHOD_PATH,
  type DiscoveryResponse,
  decodeResponse,
  encodeRequest,
} from '../../src/xds/messages.js';
import { agentNamespace, wallMs } from '../lib/ads-records.js';
import { type SkimmedDelta, skimDelta } from '../lib/delta-skim.js';

export interface AgentsOptions {
  target: string;
  agents: number;
  namespaces: number;
  records: string;
  /** `delta` (default, as `meshdns agent`) or `sotw`. */
  protocol?: 'delta' | 'sotw';
}

/** Short codes in the records, by type URL. */
const TYPE_CODES: Record<string, string> = {
  [NAME_TABLE_TYPE_URL]: 'N',
  [VIP_ROUTES_TYPE_URL]: 'V',
  [WORKLOAD_CONFIG_TYPE_URL]: 'W',
};
/** The real agent's order: the workload config first. */
const TYPES = [WORKLOAD_CONFIG_TYPE_URL, NAME_TABLE_TYPE_URL, VIP_ROUTES_TYPE_URL];

/**
 * The controller admits a few streams per client address (SPEC §10); in a cluster every pod has an
 * address of its own. grpc-js cannot bind a local address, so its connections to the controller get one
 * each from 127.0.2.0/23 here: every agent looks like a pod of its own, as it would in a cluster.
 */
function spreadSourceAddresses(target: string): void {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  const connect = net.connect;
  let next = 0;
  const patched = (...args: unknown[]) => {
    const [first] = args;
    if (typeof first === 'object' && first !== null) {
      const o = first as net.TcpNetConnectOpts;
      if (o.host === host && Number(o.port) === port && o.localAddress === undefined) {
        const k = next++ % 500;
        args[0] = { ...o, localAddress: `127.0.${2 + Math.floor(k / 250)}.${(k % 250) + 1}` };
      }
    }
    return (connect as (...a: unknown[]) => net.Socket)(...args);
  };
  (net as { connect: unknown }).connect = patched;
}

const CHANNEL: ChannelOptions = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  // A connection per agent, as pods have: grpc-js would otherwise share one among equal channels.
  'grpc.use_local_subchannel_pool': 1,
};

function startDeltaAgent(a: number, opts: AgentsOptions): () => void {
  const client = new Client(opts.target, credentials.createInsecure(), CHANNEL);
  const call = client.makeBidiStreamRequest(DELTA_METHOD_PATH, encodeDeltaRequest, skimDelta, new Metadata());
  const node = agentNode({
    podName: `bench-agent-${a}`,
    namespace: agentNamespace(a, opts.namespaces),
    metadata: { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'true' },
  });
  const request = (typeUrl: string, responseNonce: string, first = false) => ({
    ...(first ? { node } : {}),
    typeUrl,
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    initialResourceVersions: {},
    responseNonce,
  });
  call.on('data', (res: SkimmedDelta) => {
    const at = wallMs();
    const t = TYPE_CODES[res.typeUrl] ?? res.typeUrl;
    appendFileSync(opts.records, `${JSON.stringify({ a, t, v: res.v, at, b: res.b })}\n`);
    call.write(request(res.typeUrl, res.nonce));
  });
  call.on('error', (err) => process.stderr.write(`agent ${a}: ${err.message}\n`));
  TYPES.forEach((typeUrl, i) => {
    call.write(request(typeUrl, '', i === 0));
  });
  return () => {
    call.cancel();
    client.close();
  };
}

function startAgent(a: number, opts: AgentsOptions): () => void {
  if (opts.protocol !== 'sotw') return startDeltaAgent(a, opts);
  const client = new Client(opts.target, credentials.createInsecure(), CHANNEL);
  const call = client.makeBidiStreamRequest(ADS_METHOD_PATH, encodeRequest, decodeResponse, new Metadata());
  const namespace = agentNamespace(a, opts.namespaces);
  const node = agentNode({
    podName: `bench-agent-${a}`,
    namespace,
    metadata: { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'true' },
  });
  call.on('data', (res: DiscoveryResponse) => {
    const at = wallMs();
    const t = TYPE_CODES[res.typeUrl] ?? res.typeUrl;
    const b = res.resources.reduce((sum, r) => sum + r.value.length, 0);
    appendFileSync(opts.records, `${JSON.stringify({ a, t, v: res.versionInfo, at, b })}\n`);
    call.write({ versionInfo: res.versionInfo, typeUrl: res.typeUrl, responseNonce: res.nonce });
  });
  call.on('error', (err) => process.stderr.write(`agent ${a}: ${err.message}\n`));
  TYPES.forEach((typeUrl, i) => {
    call.write({ versionInfo: '', node: i === 0 ? node : undefined, typeUrl, responseNonce: '' });
  });
  return () => {
    call.cancel();
    client.close();
  };
}

function main(): void {
  const opts = JSON.parse(process.argv[2] ?? '{}') as AgentsOptions;
  if (!opts.target || !(opts.agents > 0) || !(opts.namespaces > 0) || !opts.records)
    throw new Error(
      `usage: ads-agents.js '{"target","agents","namespaces","records"}'; got ${process.argv[2]}`,
    );
  spreadSourceAddresses(opts.target);
  const stops = Array.from({ length: opts.agents }, (_, a) => startAgent(a, opts));
  process.stdout.write(`${opts.agents} agents started\n`);
  const stop = () => {
    for (const s of stops) s();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
