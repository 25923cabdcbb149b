import assert from 'node:assert/strict';
import {
  link,
  mkdir,
  mkdtemp,
  open as openFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { MeshdnsError } from '../../src/errors.js';
import { formatError, type Resource, type Resources } from '../../src/model/index.js';
import { loadManifests, ManifestFiles, ManifestSource } from '../../src/sources/index.js';
import { FolderLister, type FolderRead } from '../../src/sources/listing.js';
import { Stamp } from '../../src/sources/read.js';
import { Stamps } from '../../src/sources/stamps.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');
const BAD = join(ROOT, 'test/fixtures/manifests-bad');

const service = (name: string, ip: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: "${ip}"}\n`;

/** `name=ip` of every Service, sorted: the part of a snapshot these tests look at. */
const ips = (r: Resources) => r.services.map((s) => `${s.meta.name}=${s.clusterIPs.join(',')}`).sort();
const texts = (errors: MeshdnsError[]) => errors.map(formatError);

/**
 * The tests' debounce (20 ms) plus rescan interval (200 ms) bound how late a change may be seen;
 * the wait allows for a slow machine on top, and a change never seen still fails.
 */
const BOUND_MS = 2000;

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

describe('FolderLister (the walk a rescan repeats)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdns-list-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** The lister's clock: `later` puts it past the racy window (3 s) after the folder's last change. */
  let clock = 0;
  const later = () => {
    clock = Date.now() + 10_000;
  };
  const now = () => {
    clock = Date.now();
  };
  /** Without the addon's listing: every folder whose stat changed is listed again with node:fs. */
  const lister = () => new FolderLister({ now: () => clock, read: async () => undefined });
  /** A listing with a digest made from its own entries, as the addon's (fsio.c): names and types, sorted. */
  const fakeRead =
    (asked: string[]) =>
    async (d: string): Promise<FolderRead> => {
      asked.push(d);
      const entries = (await readdir(d, { withFileTypes: true }))
        .filter((e) => !e.name.startsWith('.'))
        .map((e): [string, string] => [e.name, e.isDirectory() ? 'd' : e.isFile() ? 'f' : 'l']);
      return {
        digest: entries
          .map(([n, t]) => `${t}${n}`)
          .sort()
          .join('/'),
        entries: () => entries,
      };
    };
  const names = (files: readonly string[]) => files.map((f) => f.slice(dir.length + 1)).sort();

  it('reads a folder again only when its stat changed; an unchanged one gives the same list, not a copy', async () => {
    await writeFile(join(dir, 'a.yaml'), 'x');
    await writeFile(join(dir, 'b.yaml'), 'x');
    later();
    const l = lister();
    const first = await l.list(dir);
    assert.equal(first.reused, false);
    const again = await l.list(dir);
    assert.equal(again.reused, true);
    assert.equal(again.files, first.files, 'the same array: nothing listed, nothing copied');
    await writeFile(join(dir, 'c.yaml'), 'x');
    later();
    const added = await l.list(dir);
    assert.equal(added.reused, false);
    assert.deepEqual(names(added.files), ['a.yaml', 'b.yaml', 'c.yaml']);
    await rm(join(dir, 'a.yaml'));
    later();
    assert.deepEqual(names((await l.list(dir)).files), ['b.yaml', 'c.yaml']);
    const fresh = await l.list(dir, true);
    assert.equal(fresh.reused, false, 'fresh: read again whatever the stat says');
    assert.deepEqual(names(fresh.files), ['b.yaml', 'c.yaml']);
  });

  it('a folder changed within the racy window before it was read is read again, however its stat compares', async () => {
    await writeFile(join(dir, 'a.yaml'), 'x');
    now();
    const l = lister();
    await l.list(dir);
    // File times come from a coarse clock: an entry added in the same tick as the read may leave them as they were.
    assert.equal((await l.list(dir)).reused, false);
    later();
    await l.list(dir);
    assert.equal((await l.list(dir)).reused, true);
  });

  it('an entry added behind a folder whose mtime was set back is still seen (ctime cannot be set back)', async () => {
    await writeFile(join(dir, 'a.yaml'), 'x');
    later();
    const l = lister();
    await l.list(dir);
    const before = await stat(dir);
    await writeFile(join(dir, 'b.yaml'), 'x');
    await utimes(dir, before.atime, before.mtime);
    assert.deepEqual(names((await l.list(dir)).files), ['a.yaml', 'b.yaml']);
  });

  it('with a digest, a folder whose times moved but whose entries did not keeps its list (a rename over a file)', async () => {
    await writeFile(join(dir, 'a.yaml'), 'x');
    await writeFile(join(dir, 'b.yaml'), 'x');
    later();
    const asked: string[] = [];
    const l = new FolderLister({ now: () => clock, read: fakeRead(asked) });
    const first = await l.list(dir);
    assert.deepEqual(asked, [dir]);
    assert.equal((await l.list(dir)).files, first.files, 'stat unchanged: not even listed');
    assert.equal(asked.length, 1);
    // An editor's save: a dot-file written beside, renamed over the file; the folder's times move (a
    // coarse clock tick later than the writes above).
    await sleep(20);
    const before = await stat(dir, { bigint: true });
    await writeFile(join(dir, '.a.yaml.tmp'), 'y');
    await rename(join(dir, '.a.yaml.tmp'), join(dir, 'a.yaml'));
    assert.notEqual((await stat(dir, { bigint: true })).ctimeNs, before.ctimeNs);
    later();
    const saved = await l.list(dir);
    assert.equal(asked.length, 2, 'listed again');
    assert.equal(saved.reused, true);
    assert.equal(saved.files, first.files, 'the same entries: the same list');
    const fresh = await l.list(dir, true);
    assert.equal(asked.length, 3, 'fresh: listed whatever the stat says');
    assert.equal(fresh.files, first.files);
    await writeFile(join(dir, 'c.yaml'), 'x');
    later();
    const added = await l.list(dir);
    assert.equal(added.reused, false);
    assert.deepEqual(names(added.files), ['a.yaml', 'b.yaml', 'c.yaml']);
    // A file and a folder of the same name are different entries.
    await rm(join(dir, 'c.yaml'));
    await mkdir(join(dir, 'c.yaml'));
    later();
    const typed = await l.list(dir);
    assert.equal(typed.reused, false);
    assert.deepEqual(names(typed.files), ['a.yaml', 'b.yaml']);
    // The entries come from the listing that gave the digest: what it saw is what the list holds.
    await rm(join(dir, 'b.yaml'));
    later();
    assert.deepEqual(names((await l.list(dir)).files), ['a.yaml']);
    await writeFile(join(dir, 'b.yaml'), 'x');
    later();
    const again = await l.list(dir);
    assert.deepEqual(names(again.files), ['a.yaml', 'b.yaml']);
    // A folder replaced by another with the same entries: the same list, the new folder's inode.
    await rename(dir, `${dir}.old`);
    await mkdir(dir);
    for (const f of ['a.yaml', 'b.yaml']) await writeFile(join(dir, f), 'x');
    await mkdir(join(dir, 'c.yaml'));
    later();
    const replaced = await l.list(dir);
    assert.equal(replaced.reused, true);
    assert.deepEqual(names(replaced.files), ['a.yaml', 'b.yaml']);
    assert.equal(replaced.dirs.get(dir), (await stat(dir, { bigint: true })).ino);
    await rm(`${dir}.old`, { recursive: true });
  });

  it('follows sub-folders added and removed, and symlinks whose target appears or goes without their folder changing', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'meshdns-list-out-'));
    try {
      await mkdir(join(dir, 'sub'));
      await writeFile(join(dir, 'sub', 'a.yaml'), 'x');
      await symlink(join(outside, 'target.yaml'), join(dir, 'link.yaml'));
      later();
      const l = lister();
      assert.deepEqual(names((await l.list(dir)).files), ['sub/a.yaml']);
      assert.equal((await l.list(dir)).reused, true, 'nothing changed');
      await writeFile(join(outside, 'target.yaml'), 'x');
      const linked = await l.list(dir);
      assert.equal(linked.reused, false, 'no folder changed, but what the listing holds did');
      assert.deepEqual(names(linked.files), ['link.yaml', 'sub/a.yaml']);
      await rm(join(outside, 'target.yaml'));
      const unlinked = await l.list(dir);
      assert.equal(unlinked.reused, false);
      assert.deepEqual(names(unlinked.files), ['sub/a.yaml']);
      await mkdir(join(dir, 'sub', 'deeper'));
      await writeFile(join(dir, 'sub', 'deeper', 'b.yaml'), 'x');
      later();
      assert.deepEqual(names((await l.list(dir)).files), ['sub/a.yaml', 'sub/deeper/b.yaml']);
      await rm(join(dir, 'sub'), { recursive: true });
      later();
      const gone = await l.list(dir);
      assert.deepEqual(names(gone.files), []);
      assert.deepEqual([...gone.dirs.keys()], [dir]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('Stamps (each file as it was read)', () => {
  const stampOf = (i: number) =>
    new Stamp({ ino: i, size: 100 + i, mtimeMs: 1e12 + i + 0.5, ctimeMs: 2e12 + i });

  it('keeps every stamp through moves, growth and shrinking, and forgets only what it is told', () => {
    const stamps = new Stamps();
    const file = (i: number) => `/m/f-${i}.yaml`;
    for (let i = 0; i < 1000; i++) stamps.set(file(i), stampOf(i));
    stamps.set(file(7), stampOf(70));
    assert.equal(stamps.size, 1000);
    // Forgetting moves the last file into each hole; most of them gone, the buffer shrinks.
    for (let i = 0; i < 1000; i += 1) if (i % 50 !== 0) assert.ok(stamps.delete(file(i)));
    assert.equal(stamps.size, 20);
    for (let i = 0; i < 1000; i++) {
      const kept = i % 50 === 0;
      assert.equal(stamps.has(file(i)), kept, file(i));
      assert.equal(stamps.matches(file(i), stampOf(i)), kept, file(i));
    }
    assert.equal(stamps.matches(file(50), stampOf(51)), false, 'another stat');
    assert.equal(stamps.delete(file(1)), false);
    for (let i = 0; i < 1000; i += 50) stamps.delete(file(i));
    assert.equal(stamps.size, 0);
    stamps.set(file(3), stampOf(3));
    assert.ok(stamps.matches(file(3), stampOf(3)));
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

  it('a new file holds only its valid objects: one of invalid objects has nothing to stand in for it', () => {
    const files = new ManifestFiles();
    files.setText('a.yaml', `${service('x', '10.0.0.1')}---\n${service('z', 'bad')}`);
    files.setText('b.yaml', service('w', 'bad'));
    assert.deepEqual(ips(files.build().resources), ['x=10.0.0.1']);
    assert.equal(files.build().errors.length, 2);
    assert.equal(files.hasObjects('a.yaml'), true);
    assert.equal(files.hasObjects('b.yaml'), false, 'an invalid object is never a last good version');
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

  it('tells each build what changed since the one before, unless duplicates could swap winners', () => {
    const files = new ManifestFiles();
    const names = (list: Resource[] = []) =>
      list.map((r) => (r.kind === 'Service' ? `${r.meta.name}=${r.clusterIPs.join(',')}` : r.kind));
    files.setText('a.yaml', `${service('x', '10.0.0.1')}---\n${service('y', '10.0.0.2')}`);
    files.setText('b.yaml', service('z', '10.0.0.3'));
    const first = files.build();
    assert.equal(first.delta, undefined, 'the first build follows nothing');
    // An edit of b: only b's object leaves and comes; a's objects are the same objects as before.
    files.setText('b.yaml', service('z', '10.0.0.4'));
    const second = files.build();
    assert.equal(second.delta?.base, first.seq);
    assert.deepEqual(names(second.delta?.removed), ['z=10.0.0.3']);
    assert.deepEqual(names(second.delta?.added), ['z=10.0.0.4']);
    assert.equal(second.resources.services[0], first.resources.services[0]);
    // A second copy of x in b: which copy wins is decided over the whole folder, so no delta.
    files.setText('b.yaml', `${service('z', '10.0.0.4')}---\n${service('x', '10.0.0.9')}`);
    assert.equal(files.build().delta, undefined);
    assert.equal(files.build().errors.length, 1);
    files.setText('b.yaml', service('z', '10.0.0.4'));
    assert.equal(files.build().delta, undefined, 'the build that resolves the duplicate has no delta either');
    files.delete('a.yaml');
    const last = files.build();
    assert.deepEqual(names(last.delta?.removed), ['x=10.0.0.1', 'y=10.0.0.2']);
    assert.deepEqual(names(last.delta?.added), []);
  });

  it('an edit of one object of a file changes that object only; the others stay the same objects', () => {
    const files = new ManifestFiles();
    const names = (list: Resource[] = []) =>
      list.map((r) => (r.kind === 'Service' ? `${r.meta.name}=${r.clusterIPs.join(',')}` : r.kind));
    const text = (yIp: string) =>
      `${service('x', '10.0.0.1')}---\n${service('y', yIp)}---\n${service('z', '10.0.0.3')}`;
    files.setText('a.yaml', text('10.0.0.2'));
    const first = files.build();
    files.setText('a.yaml', text('10.0.0.22'));
    const second = files.build();
    assert.deepEqual(names(second.delta?.removed), ['y=10.0.0.2']);
    assert.deepEqual(names(second.delta?.added), ['y=10.0.0.22']);
    assert.equal(second.resources.services[0], first.resources.services[0]);
    assert.equal(second.resources.services[2], first.resources.services[2]);
    // An object that moved to another document is another object: its source changed.
    files.setText('a.yaml', `---\n---\n${text('10.0.0.22')}`);
    assert.deepEqual(names(files.build().delta?.added), ['x=10.0.0.1', 'y=10.0.0.22', 'z=10.0.0.3']);
  });
});

describe('ManifestSource (watched folder)', () => {
  let dir: string;
  let source: ManifestSource | undefined;
  let last: { snapshot: Resources; errors: MeshdnsError[]; failed: string[] } | undefined;
  /** `services()` of every snapshot published, in order. */
  let history: string[][] = [];
  let calls = 0;

  type Extra = Partial<Omit<ConstructorParameters<typeof ManifestSource>[0], 'onChange'>>;
  const open = async (extra: Extra = {}) => {
    source = new ManifestSource({
      dir,
      debounceMs: 20,
      onChange: (snapshot, errors, failedFiles) => {
        calls++;
        last = { snapshot, errors, failed: [...failedFiles] };
        history.push(ips(snapshot));
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
    history = [];
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

  it('follows ConfigMap volume updates (atomic ..data symlink swaps), round after round', async () => {
    // What the kubelet does: a new timestamped folder, a ..data_tmp symlink renamed over ..data, the
    // old folder removed; the user's files are symlinks through ..data and never change themselves.
    const version = async (i: number) => {
      await mkdir(join(dir, `..v${i}`));
      await writeFile(join(dir, `..v${i}`, 'svc.yaml'), service('cm', `10.0.0.${i}`));
    };
    await version(1);
    await symlink('..v1', join(dir, '..data'));
    await symlink('..data/svc.yaml', join(dir, 'svc.yaml'));
    await open({ rescanIntervalMs: 200 });
    assert.deepEqual(services(), ['cm=10.0.0.1']);
    for (let i = 2; i <= 6; i++) {
      await version(i);
      await symlink(`..v${i}`, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await rm(join(dir, `..v${i - 1}`), { recursive: true });
      await waitFor(`swap ${i} seen`, () => services()[0] === `cm=10.0.0.${i}`, BOUND_MS);
    }
    assert.deepEqual(last!.failed, []);
  });

  it('sees in-place writes after a rename-replace, round after round (issue 8 finding 7)', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, service('a', '10.0.0.1'));
    await open({ rescanIntervalMs: 200 });
    for (let i = 1; i <= 10; i++) {
      // `sed -i` and editors' atomic saves: a temporary file in the same folder renamed over the file.
      await writeFile(join(dir, 'sedX1b2c3'), service('a', `10.0.1.${i}`));
      await rename(join(dir, 'sedX1b2c3'), file);
      await waitFor(`rename ${i} seen`, () => services()[0] === `a=10.0.1.${i}`, BOUND_MS);
      await writeFile(file, service('a', `10.0.2.${i}`));
      await waitFor(`in-place write ${i} seen`, () => services()[0] === `a=10.0.2.${i}`, BOUND_MS);
    }
  });

  it('symlinks whose targets come and go outside the folder are followed by the rescan, the folder unchanged', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'meshdns-src-out-'));
    try {
      await writeFile(join(outside, 'a.yaml'), service('a', '10.0.0.1'));
      await symlink(join(outside, 'a.yaml'), join(dir, 'a.yaml'));
      await symlink(join(outside, 'b.yaml'), join(dir, 'b.yaml'));
      await open({ rescanIntervalMs: 200 });
      assert.deepEqual(services(), ['a=10.0.0.1']);
      // Past the 3 s in which a folder just changed is listed again on every rescan anyway.
      await sleep(3200);
      // One link's file gone, another's come: as many files as before, and no event in the folder.
      await rm(join(outside, 'a.yaml'));
      await writeFile(join(outside, 'b.yaml'), service('b', '10.0.0.2'));
      await waitFor('the links followed', () => services().join() === 'b=10.0.0.2', BOUND_MS);
      // In one rescan: a's link counted as gone in the same pass that found b's.
      assert.deepEqual(history.at(-2), ['a=10.0.0.1']);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('a change no event reports is seen by the periodic rescan', async () => {
    // A write through a hard link outside the watched folder reaches the file without any event in
    // the folder (inotify reports a write to the folder the file was opened through).
    const folder = join(dir, 'manifests');
    const file = join(folder, 'a.yaml');
    await mkdir(folder);
    await writeFile(file, service('a', '10.0.0.1'));
    await open({ dir: folder, rescanIntervalMs: 200 });
    await writeFile(join(folder, 'sedX1b2c3'), service('a', '10.0.0.2'));
    await rename(join(folder, 'sedX1b2c3'), file);
    await waitFor('rename seen', () => services()[0] === 'a=10.0.0.2', BOUND_MS);
    await link(file, join(dir, 'elsewhere.yaml'));
    await writeFile(join(dir, 'elsewhere.yaml'), service('a', '10.0.0.3')); // same size
    await waitFor('event-less write seen', () => services()[0] === 'a=10.0.0.3', BOUND_MS);
  });

  it('an in-place rewrite read mid-write never publishes the file without its objects (issue 8 finding 1)', async () => {
    // `open('w')` then two writes with a pause: the file is briefly empty, then holds a first
    // document that parses on its own. A folder busy for longer than 10 debounce periods is read
    // mid-write; that read must not count. The settle time (the debounce, 200 ms) is ten times the
    // writer's pause: with 50 ms, a loaded machine stretched the 20 ms pause past it. A writer that
    // pauses longer than the settle time is read as it stands: no stat tells a pause from the end.
    const file = join(dir, 'ab.yaml');
    const content = (i: number) => [`${service('a', '10.0.0.1')}---\n`, service('b', `10.0.1.${i}`)];
    await writeFile(file, content(0).join(''));
    await open({ debounceMs: 200, rescanIntervalMs: 100 });
    let i = 0;
    for (const until = Date.now() + 3000; Date.now() < until && i < 250; ) {
      i++;
      const [first, second] = content(i);
      const handle = await openFile(file, 'w');
      try {
        await handle.write(first!);
        await sleep(20);
        await handle.write(second!);
      } finally {
        await handle.close();
      }
    }
    await waitFor('the last write', () => services().includes(`b=10.0.1.${i}`), BOUND_MS);
    const torn = history.filter((s) => s.length !== 2);
    assert.deepEqual(torn, [], `${torn.length} of ${history.length} snapshots lack an object`);
    assert.deepEqual(last!.failed, []);
  });

  it('a file emptied in place counts only once it has stayed empty for 2 s (a slow writer pauses)', async () => {
    // Found under load: a writer that truncates (`open('w')`, `cat > file`) and pauses longer than the
    // settle time left the file's objects out of the table until its text arrived.
    const a = join(dir, 'a.yaml');
    await writeFile(a, service('a', '10.0.0.1'));
    await open();
    await writeFile(a, '');
    // Long past the settle time (20 ms): a later change must arrive first, with a still there.
    await sleep(300);
    await writeFile(join(dir, 'b.yaml'), service('b', '10.0.0.2'));
    await waitFor('b', () => services().includes('b=10.0.0.2'), BOUND_MS);
    assert.deepEqual(
      history.filter((s) => !s.includes('a=10.0.0.1')),
      [],
      'no snapshot without a while its file was briefly empty',
    );
    // Still empty 2 s after it was emptied: the user meant it.
    await waitFor('a gone', () => !services().includes('a=10.0.0.1'), 5000);
    assert.deepEqual(services(), ['b=10.0.0.2']);
  });

  it('a manifest that is a symlink loop is reported naming the file; the rest loads', async () => {
    await writeFile(join(dir, 'ok.yaml'), service('ok', '10.0.0.1'));
    await symlink('loop-b.yaml', join(dir, 'loop-a.yaml'));
    await symlink('loop-a.yaml', join(dir, 'loop-b.yaml'));
    await open();
    assert.deepEqual(services(), ['ok=10.0.0.1']);
    assert.deepEqual(last!.failed, [join(dir, 'loop-a.yaml'), join(dir, 'loop-b.yaml')]);
    assert.match(
      last!.errors.map((e) => e.message).join('\n'),
      /loop-a\.yaml: cannot read \(.*ELOOP|symbolic links/,
    );
  });

  it('failedFiles names the files that cannot be read or parsed, until they are fixed', async () => {
    const [ok, big, typo] = ['ok.yaml', 'big.yaml', 'typo.yaml'].map((f) => join(dir, f));
    await writeFile(ok, service('ok', '10.0.0.1'));
    await writeFile(big, `${service('big', '10.0.0.2')}#${'x'.repeat(200)}\n`);
    await writeFile(typo, service('typo', '10.0.0.3'));
    await open({ maxFileBytes: 200 });
    assert.deepEqual(last!.failed, [big]);
    assert.deepEqual(services(), ['ok=10.0.0.1', 'typo=10.0.0.3']);
    assert.match(
      last!.errors[0]!.message,
      /big\.yaml: \d+ bytes is over the limit of 200 \(--max-manifest-bytes\)/,
    );

    await writeFile(typo, 'a: b: c\n'); // its last good objects stand in, and it is still listed
    await waitFor('typo listed', () => last!.failed.length === 2, BOUND_MS);
    assert.deepEqual(last!.failed, [big, typo]);
    assert.deepEqual(services(), ['ok=10.0.0.1', 'typo=10.0.0.3']);
    const loaded = await loadManifests(dir, { maxFileBytes: 200 });
    assert.deepEqual(loaded.failedFiles, [big, typo]);

    await writeFile(big, service('big', '10.0.0.2'));
    await waitFor('big fixed', () => last!.failed.length === 1, BOUND_MS);
    assert.deepEqual(last!.failed, [typo]);
    await writeFile(typo, service('typo', '10.0.0.4'));
    await waitFor('typo fixed', () => last!.failed.length === 0, BOUND_MS);
    assert.deepEqual(services(), ['big=10.0.0.2', 'ok=10.0.0.1', 'typo=10.0.0.4']);
    assert.deepEqual(last!.errors, []);
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
    const warnings: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        const line = JSON.parse(String(chunk)) as { level: number; msg: string };
        if (line.level === 40) warnings.push(line.msg);
        done();
      },
    });
    await writeFile(join(dir, 'a.yaml'), service('a', '10.0.0.1'));
    await open({ logger: pino({ level: 'warn' }, sink) });
    await rm(dir, { recursive: true });
    // The source says it lost the folder: everything it made of the removal has happened by now.
    await waitFor('the folder reported gone', () =>
      warnings.some((w) => w.includes('MESHDNS_MANIFESTS_DIR')),
    );
    assert.deepEqual(history, [['a=10.0.0.1']], 'no snapshot published for the removal');
    await mkdir(dir);
    await writeFile(join(dir, 'b.yaml'), service('b', '10.0.0.2'));
    await waitFor('folder back', () => services().join() === 'b=10.0.0.2');
    assert.deepEqual(history, [['a=10.0.0.1'], ['b=10.0.0.2']], 'never an empty snapshot in between');
    assert.equal(
      warnings.filter((w) => w.includes('MESHDNS_MANIFESTS_DIR')).length,
      1,
      'said once per outage',
    );
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

  it('rescans a folder whose rescan takes more than a tenth of the interval less often, and says so', async () => {
    for (let i = 0; i < 40; i++)
      await writeFile(join(dir, `s${i}.yaml`), service(`s${i}`, `10.0.1.${i + 1}`));
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    // An interval of 1 ms: any rescan that takes a millisecond takes more than a ninth of it.
    await open({ rescanIntervalMs: 1, logger: pino({ level: 'info' }, sink) });
    await waitFor('the longer interval logged', () => lines.some((l) => l.everyMs !== undefined));
    const line = lines.find((l) => l.everyMs !== undefined)!;
    assert.equal(line.files, 40);
    assert.ok(Number(line.tookMs) >= 1, String(line.msg));
    assert.equal(line.everyMs, 9 * Number(line.tookMs), String(line.msg));
    assert.match(
      String(line.msg),
      /took \d+ ms to list and stat: rescanning every \d+ ms, not every 1 ms \(--manifests-rescan-interval\)/,
    );
    // Still rescanned, and still following events: a new file is in.
    await writeFile(join(dir, 'new.yaml'), service('new', '10.0.2.1'));
    await waitFor('the new file', () => services().includes('new=10.0.2.1'));
  });

  it('calls nothing after close', async () => {
    const s = await open({ rescanIntervalMs: 50 });
    await s.close();
    await s.close();
    const before = calls;
    // A witness on the same folder, opened after the close, publishes the late file. Its debounce is
    // longer than the closed source's debounce (20 ms) and rescan interval (50 ms), so any pass the
    // closed source could still make would come (timers fire in order) before the witness's.
    let witnessSaw: string[] = [];
    const witness = new ManifestSource({
      dir,
      debounceMs: 300,
      onChange: (snapshot) => {
        witnessSaw = ips(snapshot);
      },
    });
    await witness.start();
    try {
      await writeFile(join(dir, 'late.yaml'), service('late', '10.0.0.7'));
      await waitFor('the witness saw late.yaml', () => witnessSaw.includes('late=10.0.0.7'));
    } finally {
      await witness.close();
    }
    assert.equal(calls, before);
    assert.deepEqual(history, [[]], 'only the first snapshot, of the empty folder');
  });
});
