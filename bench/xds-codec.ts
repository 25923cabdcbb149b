// `node dist/bench/xds-codec.js [hosts] [runs]`: the cost of the controller -> agent protocol for one
// table of `hosts` names (issue 10 item 3): encode and decode of the NameTable, its size on the wire,
// and publish -> handler -> ACK over loopback gRPC for one agent. Medians of `runs`, with min and max so
// the noise of a shared machine shows. Not a test: figures vary with the machine.
import {
  AdsClient,
  AdsServer,
  agentNode,
  decodeNameTable,
  encodeNameTable,
  NAME_TABLE_TYPE_URL,
  nameTableResource,
  ResourcePublisher,
  type XdsNameInfo,
} from '../src/xds/index.js';

const hosts = Number(process.argv[2] ?? 15_000);
const runs = Number(process.argv[3] ?? 9);

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

const pub = new ResourcePublisher();
const server = new AdsServer({ listen: '127.0.0.1:0', subscribe: () => pub });
await server.start();
const client = new AdsClient({
  target: `127.0.0.1:${server.address().port}`,
  node: agentNode({ podName: 'bench', namespace: 'default' }),
  onNameTable: () => {},
});
await client.start();
const accepted = () => client.status().versions[NAME_TABLE_TYPE_URL];
const push: number[] = [];
try {
  for (let i = 0; i <= runs; i++) {
    const resource = nameTableResource(table(hosts, i + 2));
    const t0 = performance.now();
    const version = pub.publish(NAME_TABLE_TYPE_URL, [resource]);
    // The client records a version once its handler returned and the ACK is written; polled every
    // millisecond, so each figure is up to 1 ms high.
    for (let w = 0; w < 30_000 && accepted() !== version; w++) await new Promise((r) => setTimeout(r, 1));
    if (accepted() !== version) throw new Error(`version ${version} was not accepted within 30 s`);
    if (i > 0) push.push(performance.now() - t0); // the first push includes the connection setup
  }
  console.log(`publish -> decoded and ACKed by one agent over loopback: ${stats(push)}`);
} finally {
  await client.close();
  await server.close();
}
