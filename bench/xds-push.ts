// `node dist/bench/xds-push.js [sotw|delta|both] [streams] [hosts] [changes]`: one AdsServer, `streams`
// raw ADS streams in this process (default 200), a name table of `hosts` named resources (default
// 15,000); one host changes `changes` times (default 10). For each change: the time from the commit to
// the first stream, the median stream and the last stream having the response that carries it (decoded
// and ACKed). State-of-the-world sends each stream the whole table; delta the one host. Not a test:
// figures vary with the machine's load, so min and max are printed beside the medians.
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { DELTA_METHOD_PATH, encodeDeltaRequest } from '../src/xds/delta-messages.js';
import {
  AdsServer,
  agentNode,
  encodeNameEntry,
  NAME_TABLE_TYPE_URL,
  ResourcePublisher,
  type XdsNameInfo,
} from '../src/xds/index.js';
import {
  ADS_METHOD_PATH,
  type DiscoveryResponse,
  decodeResponse,
  encodeRequest,
} from '../src/xds/messages.js';
import { type SkimmedDelta, skimDelta } from './lib/delta-skim.js';

const mode = process.argv[2] ?? 'both';
const streams = Number(process.argv[3] ?? 200);
const hosts = Number(process.argv[4] ?? 15_000);
const changes = Number(process.argv[5] ?? 10);
/** Streams per gRPC channel (HTTP/2 connection), as several agents' worth of load from one process. */
const STREAMS_PER_CHANNEL = 50;
const WAIT_BOUND_MS = 60_000;

function info(i: number, salt: number): [string, XdsNameInfo] {
  const ns = `ns${i % 50}`;
  const ip = `10.${salt & 255}.${i >> 8}.${i & 255}`;
  // Origins as the controller writes them: they are a good part of a real table's bytes.
  if (i % 3 === 0) {
    const origin = `ServiceEntry ${ns}/se${i} (mesh/${ns}/se${i}.yaml doc 0)`;
    return [`se${i}.example.com`, { ips: [ip], registry: 'External', altHosts: [], origin }];
  }
  const host = `svc${i}.${ns}.svc.cluster.local`;
  const origin = `Service ${ns}/svc${i} (mesh/${ns}/svc${i}.yaml doc 0)`;
  return [
    host,
    { ips: [ip], registry: 'Kubernetes', shortname: `svc${i}`, namespace: ns, altHosts: [], origin },
  ];
}

function put(pub: ResourcePublisher, i: number, salt: number): void {
  const [host, nameInfo] = info(i, salt);
  const value = encodeNameEntry(host, nameInfo);
  pub.set(NAME_TABLE_TYPE_URL, host, { typeUrl: NAME_TABLE_TYPE_URL, value }, `${salt}-${i}`);
}

/** The raw delta streams skim their responses (lib/delta-skim.ts), as the state-of-the-world ones take the table as one bytes field. */
/** One raw stream: records when each response arrives, ACKs it. */
function open(channel: Client, delta: boolean, id: number, seen: (id: number, at: number) => void) {
  const node = agentNode({ podName: `bench-${id}`, namespace: 'default', metadata: {} });
  if (delta) {
    const call = channel.makeBidiStreamRequest(
      DELTA_METHOD_PATH,
      encodeDeltaRequest,
      skimDelta,
      new Metadata(),
    );
    call.on('data', (res: SkimmedDelta) => {
      seen(id, performance.now());
      call.write({
        typeUrl: res.typeUrl,
        resourceNamesSubscribe: [],
        resourceNamesUnsubscribe: [],
        initialResourceVersions: {},
        responseNonce: res.nonce,
      });
    });
    call.on('error', () => {});
    call.write({
      node,
      typeUrl: NAME_TABLE_TYPE_URL,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: '',
    });
    return call;
  }
  const call = channel.makeBidiStreamRequest(ADS_METHOD_PATH, encodeRequest, decodeResponse, new Metadata());
  call.on('data', (res: DiscoveryResponse) => {
    seen(id, performance.now());
    call.write({ versionInfo: res.versionInfo, typeUrl: res.typeUrl, responseNonce: res.nonce });
  });
  call.on('error', () => {});
  call.write({ versionInfo: '', node, typeUrl: NAME_TABLE_TYPE_URL, responseNonce: '' });
  return call;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !cond(); waited += 5) {
    if (waited > WAIT_BOUND_MS) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
const f = (x: number) => x.toFixed(1);
function line(label: string, xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${label} median ${f(pct(s, 0.5))} ms (min ${f(s[0]!)}, max ${f(s.at(-1)!)})`;
}

async function run(delta: boolean): Promise<void> {
  const pub = new ResourcePublisher();
  for (let i = 0; i < hosts; i++) put(pub, i, 1);
  pub.commit();
  const server = new AdsServer({
    listen: '127.0.0.1:0',
    subscribe: () => pub,
    maxStreamsPerClient: streams + 1,
    controlPlane: 'bench',
  });
  await server.start();
  const target = `127.0.0.1:${server.address().port}`;
  const channels: Client[] = [];
  const calls: { cancel(): void }[] = [];
  /** The round each stream last saw, and when. */
  const round = new Array<number>(streams).fill(-1);
  const at = new Array<number>(streams).fill(0);
  let current = 0;
  const seen = (id: number, when: number) => {
    round[id] = current;
    at[id] = when;
  };
  const opened = performance.now();
  for (let i = 0; i < streams; i++) {
    if (i % STREAMS_PER_CHANNEL === 0)
      channels.push(
        new Client(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 }),
      );
    calls.push(open(channels.at(-1)!, delta, i, seen));
  }
  await until(() => round.every((r) => r === 0), 'the first sync');
  const firstSync = performance.now() - opened;
  const first: number[] = [];
  const median: number[] = [];
  const last: number[] = [];
  for (let c = 1; c <= changes; c++) {
    current = c;
    await new Promise((r) => setTimeout(r, 50)); // let the ACKs of the previous round settle
    const t0 = performance.now();
    put(pub, 7, 100 + c);
    pub.commit();
    await until(() => round.every((r) => r === c), `change ${c}`);
    const s = at.map((t) => t - t0).sort((a, b) => a - b);
    first.push(s[0]!);
    median.push(pct(s, 0.5));
    last.push(s.at(-1)!);
  }
  const size = delta
    ? 'one host'
    : `${(pub.current(NAME_TABLE_TYPE_URL)!.resources[0]!.value.length / 1e6).toFixed(2)} MB`;
  console.log(
    `${delta ? 'delta' : 'sotw '}: ${streams} streams, ${hosts} hosts, ${changes} changes, each response ${size}`,
  );
  console.log(`  first sync of all streams ${f(firstSync)} ms`);
  console.log(`  ${line('first', first)}\n  ${line('p50  ', median)}\n  ${line('last ', last)}`);
  for (const call of calls) call.cancel();
  for (const channel of channels) channel.close();
  await server.close();
}

if (mode === 'sotw' || mode === 'both') await run(false);
if (mode === 'delta' || mode === 'both') await run(true);
