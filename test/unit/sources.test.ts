import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { MeshdnsError } from '../../src/errors.js';
import { formatError, type Resources } from '../../src/model/index.js';
import { loadManifests, ManifestFiles, ManifestSource } from '../../src/sources/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');
const BAD = join(ROOT, 'test/fixtures/manifests-bad');

const service = (name: string, ip: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: "${ip}"}\n`;

/** `name=ip` of every Service, sorted: the part of a snapshot these tests look at. */
const ips = (r: Resources) => r.services.map((s) => `${s.meta.name}=${s.clusterIPs.join(',')}`).sort();
const texts = (errors: MeshdnsError[]) => errors.map(formatError);

async function waitFor(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('loadManifests', () => {
  it('loads examples/ with zero errors', async () => {
    const { resources, errors } = await loadManifests(EXAMPLES);
    assert.deepEqual(texts(errors), []);
    const counts = Object.fromEntries(Object.entries(resources).map(([k, v]) => [k, v.length]));
    assert.deepEqual(counts, {
      services: 6,
      endpoints: 1,
      serviceEntries: 5,
      namespaces: 2,
      workloads: 2,
      mesh: 1,
    });
    assert.deepEqual(ips(resources), [
      'billing=',
      'checkout=10.96.1.10',
      'ledger=',
      'productpage=10.96.0.10',
      'ratings=10.96.0.12',
      'reviews=10.96.0.11,fd00:10:96::11',
    ]);
    assert.equal(
      resources.services.find((s) => s.meta.name === 'billing')?.externalName,
      'billing.example.net',
    );
    assert.deepEqual(
      resources.workloads.map(
        (w) => `${w.meta.namespace}/${w.meta.name} ${w.proxyMetadata?.ISTIO_META_DNS_CAPTURE}`,
      ),
      ['default/reports false', 'payments/checkout true'],
    );
  });

  it('reports each bad object and loads the rest; skips dot-files and other extensions', async () => {
    const { resources, errors } = await loadManifests(BAD);
    assert.deepEqual(ips(resources), ['a=10.0.0.1']);
    assert.deepEqual(
      resources.serviceEntries.map((s) => s.hosts),
      [['good.example.com']],
    );
    const P = `MESHDNS_MANIFEST_INVALID: ${BAD}`;
    assert.deepEqual(texts(errors), [
      `${P}/broken.yaml doc 0: YAML syntax error at line 5, column 9: Nested mappings are not allowed in compact mappings`,
      `${P}/nested/entries.json doc 0 item 1 ServiceEntry ext/bad: spec.hosts[0] "bad host" is not a hostname`,
      `${P}/services.yaml doc 1 Service default/b: spec.clusterIP "10.0.0.300" is not an IP address or None`,
      `${P}/z-dup.yml doc 0 Service default/a: duplicates ${BAD}/services.yaml doc 0, ignored`,
    ]);
  });

  it('a missing folder is MESHDNS_MANIFESTS_DIR', async () => {
    await assert.rejects(loadManifests(join(ROOT, 'no-such-dir')), { code: 'MESHDNS_MANIFESTS_DIR' });
  });

  it('a file over the size limit is reported, not read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-src-'));
    try {
      await writeFile(join(dir, 'big.yaml'), service('big', '10.0.0.1'));
      const { resources, errors } = await loadManifests(dir, { maxFileBytes: 10 });
      assert.equal(resources.services.length, 0);
      assert.equal(errors[0]?.code, 'MESHDNS_MANIFEST_UNREADABLE');
      assert.match(errors[0]!.message, /big\.yaml: \d+ bytes is over the limit of 10/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ManifestFiles (per-file state)', () => {
  it('keeps the last good version of an invalid object, drops a new invalid one', () => {
    const files = new ManifestFiles();
    files.setText('a.yaml', `${service('x', '10.0.0.1')}---\n${service('y', '10.0.0.2')}`);
    files.setText(
      'a.yaml',
      `${service('x', 'bad')}---\n${service('y', '10.0.0.3')}---\n${service('z', 'bad')}`,
    );
    assert.deepEqual(ips(files.build().resources), ['x=10.0.0.1', 'y=10.0.0.3']);
    assert.equal(files.build().errors.length, 2);
  });

  it('an unparseable file keeps all its objects; a deleted one loses them', () => {
    const files = new ManifestFiles();
    files.setText('a.yaml', service('x', '10.0.0.1'));
    files.setText('a.yaml', 'a: b: c\n');
    assert.deepEqual(ips(files.build().resources), ['x=10.0.0.1']);
    assert.match(formatError(files.build().errors[0]!), /a\.yaml doc 0: YAML syntax error/);
    assert.equal(files.setText('a.yaml', 'a: b: c\n').changed, false);
    files.delete('a.yaml');
    assert.deepEqual(files.build().errors, []);
    assert.equal(files.build().resources.services.length, 0);
  });
});

describe('ManifestSource (watched folder)', () => {
  let dir: string;
  let source: ManifestSource | undefined;
  let last: { snapshot: Resources; errors: MeshdnsError[] } | undefined;
  let calls = 0;

  const open = async (extra: { logger?: pino.Logger; debounceMs?: number } = {}) => {
    source = new ManifestSource({
      dir,
      debounceMs: 20,
      onChange: (snapshot, errors) => {
        calls++;
        last = { snapshot, errors };
      },
      ...extra,
    });
    await source.start();
    return source;
  };
  const services = () => ips(last!.snapshot);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdns-src-'));
    last = undefined;
    calls = 0;
  });
  afterEach(async () => {
    await source?.close();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the first snapshot before start resolves', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', '10.0.0.1'));
    const s = await open();
    assert.equal(calls, 1);
    assert.deepEqual(services(), ['a=10.0.0.1']);
    assert.deepEqual(ips(s.snapshot()), ['a=10.0.0.1']);
    assert.deepEqual(s.errors(), []);
  });

  it('follows files added, modified and deleted, in sub-folders too', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', '10.0.0.1'));
    await open();
    await writeFile(join(dir, 'b.yml'), service('b', '10.0.0.2'));
    await waitFor('b added', () => services().includes('b=10.0.0.2'));
    await writeFile(join(dir, 'a.yaml'), service('a', '10.0.0.9'));
    await waitFor('a modified', () => services().includes('a=10.0.0.9'));
    await rm(join(dir, 'b.yml'));
    await waitFor('b deleted', () => services().length === 1);
    await mkdir(join(dir, 'sub'));
    await writeFile(
      join(dir, 'sub', 'c.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'c' } }),
    );
    await waitFor('sub/c.json', () => last!.snapshot.namespaces.length === 1);
    // Node's recursive watch loses a renamed folder; the source must watch it afresh.
    await rename(join(dir, 'sub'), join(dir, 'sub2'));
    await waitFor(
      'rename seen',
      () => last!.snapshot.namespaces[0]?.source.file === join(dir, 'sub2', 'c.json'),
    );
    await writeFile(join(dir, 'sub2', 'd.yaml'), service('d', '10.0.0.4'));
    await waitFor('file in renamed folder', () => services().includes('d=10.0.0.4'));
    await rm(join(dir, 'sub2'), { recursive: true });
    await waitFor('folder deleted', () => services().length === 1 && last!.snapshot.namespaces.length === 0);
    assert.deepEqual(last!.errors, []);
  });

  it('a broken edit keeps the last good state and reports why', async () => {
    await writeFile(join(dir, 'a.yaml'), `${service('x', '10.0.0.1')}---\n${service('y', '10.0.0.2')}`);
    await open();
    await writeFile(join(dir, 'a.yaml'), `${service('x', '10.0.0.1')}---\nkind: [\n`);
    await waitFor('syntax error', () => last!.errors.length === 1);
    assert.match(formatError(last!.errors[0]!), /a\.yaml doc 1: YAML syntax error at line 7, column 1/);
    assert.deepEqual(services(), ['x=10.0.0.1', 'y=10.0.0.2']);

    await writeFile(
      join(dir, 'a.yaml'),
      `${service('x', '10.0.0.3')}---\n${service('y', 'nope')}---\n${service('z', 'nope')}`,
    );
    await waitFor('invalid objects', () => last!.errors.length === 2);
    assert.deepEqual(services(), ['x=10.0.0.3', 'y=10.0.0.2']);
    assert.deepEqual(texts(last!.errors), [
      `MESHDNS_MANIFEST_INVALID: ${dir}/a.yaml doc 1 Service default/y: spec.clusterIP "nope" is not an IP address or None`,
      `MESHDNS_MANIFEST_INVALID: ${dir}/a.yaml doc 2 Service default/z: spec.clusterIP "nope" is not an IP address or None`,
    ]);

    await writeFile(join(dir, 'a.yaml'), service('y', '10.0.0.5'));
    await waitFor('fixed', () => last!.errors.length === 0);
    assert.deepEqual(services(), ['y=10.0.0.5']);
  });

  it('follows a ConfigMap volume update (atomic ..data symlink swap)', async () => {
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'svc.yaml'), service('cm', '10.0.0.1'));
    await symlink('..v1', join(dir, '..data'));
    await symlink('..data/svc.yaml', join(dir, 'svc.yaml'));
    await open();
    assert.deepEqual(services(), ['cm=10.0.0.1']);
    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2', 'svc.yaml'), service('cm', '10.0.0.2'));
    await symlink('..v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor('swap seen', () => services()[0] === 'cm=10.0.0.2');
  });

  it('logs each new error once at warn', async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    await writeFile(join(dir, 'a.yaml'), service('a', 'nope'));
    await open({ logger: pino({ level: 'warn' }, sink) });
    await writeFile(join(dir, 'b.yaml'), service('b', '10.0.0.2'));
    await waitFor('b added', () => services().length === 1);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    assert.deepEqual(warnings, [
      `${dir}/a.yaml doc 0 Service default/a: spec.clusterIP "nope" is not an IP address or None`,
    ]);
  });

  it('keeps the last snapshot while the folder is gone, and picks it up again when it is back', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', '10.0.0.1'));
    await open();
    await rm(dir, { recursive: true });
    await sleep(200);
    assert.deepEqual(services(), ['a=10.0.0.1']);
    await mkdir(dir);
    await writeFile(join(dir, 'b.yaml'), service('b', '10.0.0.2'));
    await waitFor('folder back', () => services().join() === 'b=10.0.0.2');
  });

  it('a folder that never goes quiet is still re-read', async () => {
    await open({ debounceMs: 200 }); // events every few ms would hold a plain debounce off forever
    let stop = false;
    const noise = (async () => {
      for (let i = 0; !stop; i++) {
        await writeFile(join(dir, 'noise.log'), String(i));
        await sleep(5);
      }
    })();
    try {
      await writeFile(join(dir, 'a.yaml'), service('a', '10.0.0.1'));
      await waitFor('a despite the noise', () => services().length === 1);
    } finally {
      stop = true;
      await noise;
    }
  });

  it('start() on a missing folder throws MESHDNS_MANIFESTS_DIR', async () => {
    const s = new ManifestSource({ dir: join(dir, 'missing'), onChange: () => assert.fail('no snapshot') });
    await assert.rejects(s.start(), { code: 'MESHDNS_MANIFESTS_DIR' });
    await s.close();
  });

  it('calls nothing after close', async () => {
    const s = await open();
    await s.close();
    await s.close();
    const before = calls;
    await writeFile(join(dir, 'late.yaml'), service('late', '10.0.0.7'));
    await sleep(100);
    assert.equal(calls, before);
  });
});
