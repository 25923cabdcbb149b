// A restart's snapshot (issue 14 item 3): the cache and the name table written and read back, TTLs aged by
// the wall-clock time between, and every damaged or untrusted file reported and ignored, never fatal.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import {
  parseSnapshot,
  readSnapshot,
  SNAPSHOT_VERSION,
  type Snapshot,
  snapshotLines,
  writeSnapshot,
} from '../../src/agent/index.js';
import { snapshotBeside } from '../../src/cli/snapshot-setup.js';
import { nameToKey } from '../../src/dns/index.js';
import {
  buildNameTable,
  buildTableRecords,
  NameTable,
  restoreTable,
  tableSnapshotProblem,
  timeSlicer,
  unpackSet,
} from '../../src/nametable/index.js';
import {
  cacheKeyOf,
  cacheSettings,
  DnsCache,
  dumpCache,
  prepareAnswer,
  restoreCache,
} from '../../src/upstream/index.js';
import { a, FakeClock, soa } from '../helpers/fake-upstream.js';
import { sampleMesh, serviceEntry } from '../helpers/resources.js';

const A = 1;
const CLASS_IN = 1;

/** An upstream reply for `name`, as the cache keeps it. */
function reply(
  name: string,
  answers: dnsPacket.Answer[],
  authorities: dnsPacket.Answer[] = [],
  rcode = 'NOERROR',
) {
  const raw = dnsPacket.encode({
    type: 'response',
    id: 1,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    rcode,
    questions: [{ name, type: 'A' }],
    answers,
    authorities,
  } as dnsPacket.Packet);
  return raw;
}

function cacheWith(clock: FakeClock, entries: [string, Buffer][], serveStale = true): DnsCache {
  const cache = new DnsCache(cacheSettings({ serveStale, staleMaxAge: 3600 }), clock.now);
  for (const [name, raw] of entries) {
    const p = prepareAnswer(raw, cache.settings);
    assert.ok(p.answer && p.uncacheable === null, `${name} is cacheable`);
    const qkey = nameToKey(`${name}.`);
    cache.store(
      cacheKeyOf(qkey, A, CLASS_IN, false),
      { qkey, qtype: A, qclass: CLASS_IN, qEnd: 0 } as never,
      p.answer,
      p.ttl,
    );
  }
  return cache;
}

const keyOf = (name: string) => cacheKeyOf(nameToKey(`${name}.`), A, CLASS_IN, false);

describe('restart snapshot: the cache', () => {
  // [what, seconds between store and write, seconds between write and read, serve-stale, kept, TTL left]
  const cases: [string, number, number, boolean, boolean, number | undefined][] = [
    ['a fresh entry comes back with its TTL aged by both gaps', 10, 20, true, true, 270],
    [
      'an entry that expired meanwhile is kept stale while serve-stale may give it',
      100,
      250,
      true,
      true,
      undefined,
    ],
    ['… and dropped without serve-stale', 100, 250, false, false, undefined],
    ['… and dropped past the stale window', 100, 300 + 3600, true, false, undefined],
  ];
  for (const [what, before, between, serveStale, kept, ttlLeft] of cases) {
    it(what, async () => {
      const clock = new FakeClock();
      const old = cacheWith(clock, [['www.test', reply('www.test', [a('www.test', 300)])]], serveStale);
      clock.advance(before);
      const dumped = dumpCache(old);
      assert.equal(dumped.length, 1);
      const fresh = new DnsCache(cacheSettings({ serveStale, staleMaxAge: 3600 }), new FakeClock().now);
      const r = await restoreCache(fresh, dumped, between * 1000);
      assert.equal(r.restored, kept ? 1 : 0, JSON.stringify(r));
      const hit = fresh.lookup(keyOf('www.test'));
      if (ttlLeft === undefined) assert.equal(hit, undefined);
      else assert.equal(hit && hit.entry.ttl - hit.age, ttlLeft);
      if (kept && ttlLeft === undefined) assert.ok(fresh.stale(keyOf('www.test')), 'stale entry kept');
    });
  }

  it('keeps negative answers and hits; skips damaged bodies, taken keys and table names', async () => {
    const clock = new FakeClock();
    const old = cacheWith(clock, [
      ['one.test', reply('one.test', [a('one.test', 60)])],
      ['gone.test', reply('gone.test', [], [soa('test', 60, 30)], 'NXDOMAIN')],
      ['two.test', reply('two.test', [a('two.test', 60)])],
      ['mesh.test', reply('mesh.test', [a('mesh.test', 60)])],
    ]);
    old.lookup(keyOf('one.test'));
    const dumped = dumpCache(old);
    dumped.push({ body: Buffer.from('not a reply').toString('base64'), do: false, ageMs: 0, hits: 0 });
    const fresh = new DnsCache(cacheSettings(), new FakeClock().now);
    fresh.store(
      keyOf('two.test'),
      { qkey: nameToKey('two.test.'), qtype: A, qclass: CLASS_IN } as never,
      prepareAnswer(reply('two.test', [a('two.test', 60, '192.0.2.9')]), fresh.settings).answer!,
      60,
    );
    const r = await restoreCache(fresh, dumped, 0, (qkey) => qkey === nameToKey('mesh.test.'));
    assert.deepEqual(r, { restored: 2, expired: 0, invalid: 1, skipped: 2 });
    assert.equal(fresh.lookup(keyOf('gone.test'))?.entry.answer.negative, true);
    assert.equal(fresh.peek(keyOf('one.test'))?.entry.hits, 1, 'the hit it had');
    const two = fresh.peek(keyOf('two.test'))!.entry.answer.body;
    assert.equal(
      (dnsPacket.decode(two).answers?.[0] as { data?: unknown })?.data,
      '192.0.2.9',
      'the newer answer stays',
    );
  });
});

describe('restart snapshot: the name table', () => {
  const scope = {
    namespace: 'default',
    clusterDomain: 'cluster.local',
    searchDomains: ['default.svc.cluster.local'],
  };

  it('comes back answering the same names, aliases and wildcards', async () => {
    const table = buildNameTable(sampleMesh(), scope);
    const saved = JSON.parse(JSON.stringify(table.toDiff()));
    assert.equal(await tableSnapshotProblem(saved), undefined);
    const back = await restoreTable(saved, timeSlicer(4));
    assert.deepEqual(back.records(), table.records());
  });

  it('checks the names in slices, giving the event loop a turn whenever the slice is used up', async () => {
    const table = buildNameTable(sampleMesh(), scope);
    const saved = JSON.parse(JSON.stringify(table.toDiff()));
    let pauses = 0;
    const everyName = {
      due: () => true,
      pause: () =>
        new Promise<void>((done) =>
          setImmediate(() => {
            pauses++;
            done();
          }),
        ),
    };
    assert.equal(await tableSnapshotProblem(saved, everyName), undefined);
    const names = (saved.packed as string[]).reduce((n, part) => n + [...unpackSet(part)].length, 0);
    assert.ok(names > 10);
    assert.equal(pauses, names, 'one turn per name when every slice is used up at once');
  });

  it('keeps a per-name wildcard and the names given VIPs under it (issue 14 item 5)', async () => {
    const res = sampleMesh();
    const W = '*.db.example.com';
    res.serviceEntries.push(serviceEntry('default', 'dbs', [W], { resolution: 'DNS' }));
    res.serviceEntries.push(
      serviceEntry('default', 'dbs', ['a.db.example.com'], { resolution: 'DNS', perNameOf: W }),
    );
    const vips = (_se: unknown, host: string) =>
      host === 'a.db.example.com' ? { v4: '240.240.0.9', v6: '2001:2::9' } : undefined;
    const table = NameTable.fromRecords(buildTableRecords(res, scope, vips, (_se, host) => host === W));
    assert.equal(table.lookup(nameToKey('a.db.example.com.'))?.record.perName, W);
    const saved = JSON.parse(JSON.stringify(table.toDiff()));
    assert.equal(await tableSnapshotProblem(saved), undefined);
    const back = await restoreTable(saved, timeSlicer(4));
    assert.deepEqual(back.records(), table.records());
  });

  // [what, damage done to the saved table, the problem named]
  const damage: [string, (t: { diff: Record<string, unknown>; packed: string[] }) => void, RegExp][] = [
    [
      'a record with a bad address',
      (t) => {
        t.packed[0] = t.packed[0]!.replace(/"ipv4":\["[^"]+"/, '"ipv4":["300.1.1.1"');
      },
      /ipv4/,
    ],
    [
      'a key that is not its name',
      (t) => {
        t.packed[0] = `x${t.packed[0]}`;
      },
      /key/,
    ],
    [
      'a part cut short',
      (t) => {
        t.packed[0] = t.packed[0]!.slice(0, -3);
      },
      /./,
    ],
    [
      'no scope',
      (t) => {
        t.diff.scope = undefined;
      },
      /scope/,
    ],
    [
      'a diff, not a whole table',
      (t) => {
        t.diff.remove = ['a\x00'];
      },
      /whole/,
    ],
  ];
  for (const [what, harm, problem] of damage) {
    it(`is refused with ${what}`, async () => {
      const saved = JSON.parse(JSON.stringify(buildNameTable(sampleMesh(), scope).toDiff()));
      harm(saved);
      assert.match((await tableSnapshotProblem(saved)) ?? '', problem);
    });
  }
});

describe('restart snapshot: the file', () => {
  let dir = '';
  after(() => rm(dir, { recursive: true, force: true }));
  const sample = (): Snapshot => ({
    version: SNAPSHOT_VERSION,
    writtenAt: 1,
    pid: 1,
    cache: [{ body: 'AA==', do: false, ageMs: 5, hits: 1 }],
  });

  it('is written whole, readable by its owner only, and read back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdns-snapshot-'));
    const file = join(dir, 'sub', 's.snapshot.json');
    await writeSnapshot(file, sample());
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual((await readSnapshot(file))?.snapshot, sample());
    assert.equal(await readSnapshot(join(dir, 'none.json')), undefined, 'a missing file is no snapshot');
  });

  /** The lines `snapshotLines` makes of `s`, as the file holds them. */
  const linesOf = async (s: Snapshot) => {
    let text = '';
    for await (const line of snapshotLines(s)) text += line;
    return text;
  };
  /** A snapshot of every part, each over one line's worth: the cache, 3 parts of names, VIPs and routes. */
  const big = (): Snapshot => {
    const table = buildNameTable(sampleMesh(), {
      namespace: 'default',
      clusterDomain: 'cluster.local',
      searchDomains: [],
    }).toDiff()!;
    const route = { vip: '240.240.0.1', port: 3306, host: 'db.example.com', hostPort: 3306, endpoints: [] };
    return {
      ...sample(),
      cache: Array.from({ length: 1201 }, (_, i) => ({ body: 'AA==', do: i % 2 === 0, ageMs: i, hits: 1 })),
      table: { diff: table.diff, packed: [...table.packed, ...table.packed, ...table.packed] },
      vips: {
        hosts: Array.from({ length: 700 }, (_, i) => ({
          namespace: 'ns',
          name: `se-${i}`,
          host: `h${i}.example.com`,
          state: 'allocated',
        })) as never,
        routes: Array.from({ length: 600 }, () => route) as never,
      },
    };
  };

  it('is lines of a few hundred records each, read back whole, a slice at a time', async () => {
    const text = await linesOf(big());
    const lines = text.split('\n').slice(0, -1);
    // header, 3 of cache, 3 of names, 2 of hosts, 2 of routes
    assert.equal(lines.length, 11);
    assert.equal(JSON.parse(lines[0]!).lines, 10);
    let pauses = 0;
    const everyLine = {
      due: () => true,
      pause: async () => {
        pauses++;
      },
    };
    const read = await parseSnapshot(text, 'f.json', everyLine);
    assert.deepEqual(read.snapshot, big());
    assert.equal(pauses, 10, 'a turn of the event loop before each line');
  });

  it('a version 1 file (one JSON document) is still read', async () => {
    const old = { ...big(), version: 1 };
    const read = await parseSnapshot(JSON.stringify(old), 'f.json');
    assert.deepEqual(read.snapshot, old);
  });

  // [what, the file's text, the problem]
  const bad: [string, () => Promise<string>, RegExp][] = [
    ['not JSON', async () => '{"version": 2, "cache": [', /the header: not JSON/],
    [
      'another version',
      async () => JSON.stringify({ ...sample(), version: SNAPSHOT_VERSION + 1 }),
      new RegExp(`version ${SNAPSHOT_VERSION + 1}, this meshdns reads version ${SNAPSHOT_VERSION}`),
    ],
    [
      'no cache (version 1)',
      async () => JSON.stringify({ version: 1, writtenAt: 1, pid: 1 }),
      /cache missing/,
    ],
    [
      'no line count',
      async () => JSON.stringify({ version: 2, writtenAt: 1, pid: 1 }),
      /lines or vips missing/,
    ],
    [
      'a negative line count',
      async () => JSON.stringify({ version: 2, writtenAt: 1, pid: 1, lines: -1 }),
      /lines or vips missing or wrong/,
    ],
    [
      'VIPs that are not the lines',
      async () => JSON.stringify({ version: 2, writtenAt: 1, pid: 1, lines: 0, vips: { hosts: [] } }),
      /lines or vips missing or wrong/,
    ],
    [
      'cut short',
      async () => (await linesOf(big())).split('\n').slice(0, 5).join('\n'),
      /4 of 10 lines: cut short/,
    ],
    [
      'a damaged line',
      async () => (await linesOf(big())).replace('\n["cache",[{', '\n["cache",[{{'),
      /line 2: not JSON/,
    ],
    [
      'a line of another kind',
      async () => (await linesOf(big())).replace('\n["hosts"', '\n["mystery"'),
      /line 8: not a \[what, part\] pair/,
    ],
    ['a line too many', async () => `${await linesOf(big())}["cache",[]]\n`, /more than the 10 lines/],
  ];
  for (const [what, text, problem] of bad) {
    it(`${what}: reported with MESHDNS_SNAPSHOT_INVALID`, async () => {
      await assert.rejects(parseSnapshot(await text(), 'f.json'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'MESHDNS_SNAPSHOT_INVALID');
        assert.match(e.message, problem);
        return true;
      });
    });
  }

  it('bad cache entries are counted and left out, the rest kept', async () => {
    const text = await linesOf({
      ...sample(),
      cache: [...sample().cache, { body: 1 }, { body: 'AA==', do: false, ageMs: -1, hits: 0 }] as never,
    });
    const read = await parseSnapshot(text, 'f.json');
    assert.equal(read.badEntries, 2);
    assert.equal(read.snapshot.cache.length, 1);
  });

  it('a file others can write is not trusted', async () => {
    const file = join(dir, 'open.json');
    await writeFile(file, JSON.stringify(sample()));
    await chmod(file, 0o666);
    await assert.rejects(readSnapshot(file), /no one else can write/);
    assert.ok((await readFile(file, 'utf8')).length > 0, 'and left as it is');
  });

  it("serve's default is beside its state file", () => {
    assert.equal(snapshotBeside('/srv/.meshdns/mesh.allocations.json'), '/srv/.meshdns/mesh.snapshot.json');
    assert.equal(snapshotBeside('/tmp/state.json'), '/tmp/state.snapshot.json');
    assert.equal(snapshotBeside('/tmp/state'), '/tmp/state.snapshot.json');
  });
});
