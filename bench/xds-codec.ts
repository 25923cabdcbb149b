// `node dist/bench/xds-codec.js [hosts] [runs] [agents]`: the cost of the controller -> agent protocol
// for one table of `hosts` names (issue 10 item 3): encode and decode of the NameTable, its size on the
// wire, and publish -> decoded and ACKed over loopback gRPC by `agents` agents (default 1). Medians of
// `runs`, with min and max so the noise of a shared machine shows. Not a test: figures vary.
import {
  AdsClient,
  AdsServer,
  agentNode,
  contentVersion,
  decodeNameTable,
  encodeNameTable,
  NAME_TABLE_TYPE_URL,
  nameTableResource,
  ResourcePublisher,
  type XdsNameInfo,
} from '../src/xds/index.js';

const hosts = Number(process.argv[2] ?? 15_000);
const runs = Number(process.argv[3] ?? 9);
const agents = Number(process.argv[4] ?? 1);

function table(n: number, salt: number): Map<string, XdsNameInfo> {
  const t = new Map<string, XdsNameInfo>();
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 50}`;
    const ip = `10.${salt & 255}.${i >> 8}.${i & 255}`;
    if (i % 3 === 0)
      t.set(`se${i}.example.com`, {
        ips: [ip, `240.240.${i >> 8}.${i & 255}`],
        registry: 'External',
        altHosts: [],
      });
    else
      t.set(`svc${i}.${ns}.svc.cluster.local`, {
        ips: [ip],
        registry: 'Kubernetes',
        shortname: `svc${i}`,
        namespace: ns,
        altHosts: [`svc${i}.${ns}`, `svc${i}.${ns}.svc`],
      });
  }
  return t;
}

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(1);
  return `median ${f(s[Math.floor(s.length / 2)]!)} ms (min ${f(s[0]!)}, max ${f(s.at(-1)!)}, ${s.length} runs)`;
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

const t = table(hosts, 1);
let bytes: Uint8Array = new Uint8Array();
const enc: number[] = [];
const dec: number[] = [];
for (let i = 0; i < runs; i++) {
  enc.push(timed(() => (bytes = encodeNameTable(t))));
  dec.push(timed(() => decodeNameTable(bytes)));
}
console.log(`NameTable of ${hosts} hosts: ${(bytes.length / 1024).toFixed(0)} KiB on the wire`);
console.log(`  encode ${stats(enc)}`);
console.log(`  decode ${stats(dec)}`);

// Every agent in this process, as issue 10's control-plane benchmark has them: the figure is the time
// until the server has the ACK of the last agent, decoding included, on the same two cores.
const pub = new ResourcePublisher();
const acked = new Map<string, number>();
let waiting: { version: string; done: () => void } | undefined;
const server = new AdsServer({
  listen: '127.0.0.1:0',
  subscribe: () => pub,
  onAck: (_s, _type, version) => {
    const n = (acked.get(version) ?? 0) + 1;
    acked.set(version, n);
    if (waiting?.version === version && n === agents) waiting.done();
  },
});
await server.start();
const clients = Array.from(
  { length: agents },
  (_, i) =>
    new AdsClient({
      target: `127.0.0.1:${server.address().port}`,
      node: agentNode({ podName: `bench-${i}`, namespace: 'default' }),
      onNameTable: () => {},
    }),
);
const push: number[] = [];
try {
  for (const c of clients) await c.start();
  for (let i = 0; i <= runs; i++) {
    const resource = nameTableResource(table(hosts, i + 2));
    const version = contentVersion([resource]);
    const t0 = performance.now();
    const all = new Promise<void>((resolve, reject) => {
      const bound = setTimeout(() => reject(new Error('not every agent ACKed within 60 s')), 60_000);
      waiting = {
        version,
        done: () => {
          clearTimeout(bound);
          resolve();
        },
      };
    });
    pub.publish(NAME_TABLE_TYPE_URL, [resource], version);
    await all;
    if (i > 0) push.push(performance.now() - t0); // the first push includes the connection setup
  }
  console.log(`publish -> decoded and ACKed by all ${agents} agent(s) over loopback: ${stats(push)}`);
} finally {
  for (const c of clients) await c.close();
  await server.close();
}
