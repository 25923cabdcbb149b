// The xDS port with TLS (issue 10 item 3, SPEC §10): with a CA given, the controller accepts only agents
// presenting a certificate it signed. Certificates are made by the real openssl in a temporary folder.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AdsClient,
  AdsServer,
  agentNode,
  NAME_TABLE_TYPE_URL,
  nameTableResource,
  ResourcePublisher,
  type XdsNameTable,
} from '../../src/xds/index.js';
import { answersOf, ask } from '../helpers/dns-client.js';
import { freePort } from '../helpers/dnsmasq.js';
import { startCli, waitForOutput } from '../helpers/meshdns.js';

const BOUND_MS = 10_000;
const dir = mkdtempSync(join(tmpdir(), 'meshdns-xds-tls-'));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: BOUND_MS });
}

/** A CA, and a leaf it signs for `name` (server: SAN IP 127.0.0.1; client: clientAuth). */
function makeCerts(): void {
  openssl(
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
    ...['-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=meshdns test CA'],
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      ...['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`],
    );
    openssl(
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-days', '1', '-out', `${name}.pem`, '-extfile', `${name}.ext`],
    );
  }
}

const pem = (name: string) => readFileSync(join(dir, name));

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > BOUND_MS) assert.fail(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const table: XdsNameTable = new Map([
  ['a.example', { ips: ['192.0.2.1'], registry: 'External', altHosts: [] }],
]);
const node = agentNode({ podName: 'web-1', namespace: 'shop' });

describe('xds over TLS with client certificates', () => {
  let server: AdsServer;
  const clients: AdsClient[] = [];

  before(async () => {
    makeCerts();
    const pub = new ResourcePublisher();
    pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table)]);
    server = new AdsServer({
      listen: '127.0.0.1:0',
      tls: { cert: pem('server.pem'), key: pem('server.key'), ca: pem('ca.pem') },
      subscribe: () => pub,
    });
    await server.start();
  });

  after(async () => {
    for (const c of clients) await c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function client(withCert: boolean, got: XdsNameTable[]): AdsClient {
    const c = new AdsClient({
      target: `127.0.0.1:${server.address().port}`,
      node,
      tls: withCert
        ? { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') }
        : { ca: pem('ca.pem') },
      backoffInitialMs: 20,
      backoffMaxMs: 100,
      onNameTable: (t) => {
        got.push(t);
      },
    });
    clients.push(c);
    return c;
  }

  it('an agent with a certificate signed by the CA gets its table', async () => {
    const got: XdsNameTable[] = [];
    const c = client(true, got);
    await c.start();
    await until('the table', () => got.length === 1);
    assert.deepEqual(got[0], table);
  });

  it('meshdns controller and meshdns agent take the TLS flags: DNS served from a table sent over TLS', async () => {
    const xds = await freePort('127.0.0.1');
    const c = startCli([
      ...['controller', '--manifests', 'examples', '--state-file', join(dir, 'state.json')],
      ...['--xds-listen', `127.0.0.1:${xds}`, '--tls-cert', join(dir, 'server.pem')],
      ...['--tls-key', join(dir, 'server.key'), '--tls-ca', join(dir, 'ca.pem')],
    ]);
    const port = await freePort('127.0.0.1');
    const agentArgs = (cert: string[]) => [
      ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
      ...['--upstream', '127.0.0.1:9', '--tls-ca', join(dir, 'ca.pem'), ...cert],
    ];
    const env = { POD_NAME: 'app', POD_NAMESPACE: 'default', ISTIO_META_DNS_CAPTURE: 'true' };
    const a = startCli(
      agentArgs(['--tls-cert', join(dir, 'client.pem'), '--tls-key', join(dir, 'client.key')]),
      { env },
    );
    try {
      await waitForOutput(c, /"msg":"controller ready"/);
      await waitForOutput(a, /"msg":"serving DNS"/);
      const reply = await ask('udp', port, 'productpage.default.svc.cluster.local', 'A');
      assert.deepEqual(answersOf(reply), ['productpage.default.svc.cluster.local A 10.96.0.10']);
    } finally {
      await Promise.all([a.stop(), c.stop()]);
    }
  });

  it('an agent without a client certificate is refused and keeps retrying', async () => {
    const got: XdsNameTable[] = [];
    const c = client(false, got);
    await c.start();
    await until('two refused attempts', () => c.status().connects >= 2);
    assert.equal(c.status().connected, false);
    assert.ok(c.status().lastError, 'the refusal is reported');
    assert.equal(got.length, 0);
  });
});
