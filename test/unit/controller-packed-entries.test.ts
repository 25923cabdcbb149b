// VIPs and routes cross to the agent's thread packed, and stay JSON there until read (issue 8: parsing
// them on arrival made half of that thread's collector pauses while it applied a 50,000-object table).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { packEntries, readAll, unpackEntries } from '../../src/controller/packed-entries.js';

describe('packed entries', () => {
  it('gives back each key and its value, in order, whatever the value holds', () => {
    const set: [string, unknown][] = [
      ['ns/a/a.example.com', { v4: ['240.240.0.1'], note: 'line\nbreak and \u0000 nul' }],
      ['ns/b/b.example.com', [{ vip: '240.240.0.2', port: 3306 }]],
      ['ns/c/c.example.com', null],
    ];
    const back = [...unpackEntries(packEntries(set))].map(([k, json]) => [k, JSON.parse(json)]);
    assert.deepEqual(back, set);
    assert.deepEqual([...unpackEntries(packEntries([]))], []);
  });

  it('refuses a key it could not give back, and a part cut short', () => {
    assert.throws(() => packEntries([['a\nb', 1]]), /packEntries: key/);
    assert.throws(() => packEntries([['a\0b', 1]]), /packEntries: key/);
    const packed = packEntries([['k', { a: 1 }]]);
    assert.throws(() => [...unpackEntries(packed.slice(0, -1))], /malformed packed entries at 0/);
    assert.throws(() => [...unpackEntries('k{}\n')], /malformed/);
  });

  it('keeps no part alive through the keys it gave (a map keeps them as long as their entries)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
    const held = new Map<string, number>();
    gc();
    const before = getHeapStatistics().used_heap_size;
    // 20 parts of 1 MB each, of which only the keys are kept.
    for (let p = 0; p < 20; p++) {
      const set = Array.from({ length: 100 }, (_, i): [string, string] => [
        `namespace-${p}/name-${i}/host-${i}.example.com`,
        'x'.repeat(10_000),
      ]);
      for (const [key] of unpackEntries(packEntries(set))) held.set(key, p);
    }
    gc();
    const grown = getHeapStatistics().used_heap_size - before;
    assert.equal(held.size, 2000);
    assert.ok(grown < 5 << 20, `${(grown / 1048576).toFixed(1)} MiB kept for 2,000 keys`);
  });

  it('parses a value the first time it is read and keeps it parsed, in the map order', () => {
    const held = new Map<string, { n: number } | string>([
      ['a', '{"n":1}'],
      ['b', { n: 2 }],
      ['c', '{"n":3}'],
    ]);
    const first = readAll(held);
    assert.deepEqual(first, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual([...held.keys()], ['a', 'b', 'c']);
    assert.ok([...held.values()].every((v) => typeof v === 'object'));
    const again = readAll(held);
    assert.ok(
      again.every((v, i) => v === first[i]),
      'the same objects, not parsed again',
    );
  });
});
