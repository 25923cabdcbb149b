// The publisher's named resources: batches that commit once, the change log a delta stream reads (and
// its end), and the state-of-the-world snapshot made from the same content.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DigestSum,
  NAME_TABLE_TYPE_URL,
  ResourcePublisher,
  VIP_ROUTES_TYPE_URL,
  versionDigest,
} from '../../src/xds/index.js';

const T = NAME_TABLE_TYPE_URL;
const res = (text: string) => ({ typeUrl: T, value: Buffer.from(text) });

describe('ResourcePublisher named resources', () => {
  it('signals once per commit and type, and not for a batch that changed nothing', () => {
    const pub = new ResourcePublisher();
    const heard: string[] = [];
    pub.watch((t) => heard.push(t));
    pub.set(T, 'a', res('A'), '0000000000000001');
    pub.set(T, 'b', res('B'), '0000000000000002');
    pub.touch(VIP_ROUTES_TYPE_URL);
    assert.equal(pub.named(T), undefined, 'nothing is seen before the commit');
    assert.deepEqual(pub.commit(), [T, VIP_ROUTES_TYPE_URL]);
    pub.set(T, 'a', res('A'), '0000000000000001');
    assert.deepEqual(pub.commit(), [], 'the same version again is no change');
    assert.deepEqual(heard, [T, VIP_ROUTES_TYPE_URL]);
    assert.deepEqual(pub.current(VIP_ROUTES_TYPE_URL)?.resources[0]?.value.length, 0, 'an empty type exists');
  });

  it('answers which names changed since a commit, until the log no longer reaches back', () => {
    const pub = new ResourcePublisher({ changeLogCommits: 3 });
    const edits: [string, () => void][] = [
      [
        'a b',
        () => {
          pub.set(T, 'a', res('A'), 'v1');
          pub.set(T, 'b', res('B'), 'v1');
        },
      ],
      ['a', () => pub.set(T, 'a', res('A2'), 'v2')],
      ['b', () => pub.remove(T, 'b')],
      ['c', () => pub.set(T, 'c', res('C'), 'v1')],
    ];
    for (const [, edit] of edits) {
      edit();
      pub.commit();
    }
    const source = pub.named(T)!;
    assert.equal(source.sequence, 4);
    const since = (s: number) => {
      const names = source.changedSince(s);
      return names && [...names].sort().join(' ');
    };
    assert.equal(since(4), '');
    assert.equal(since(3), 'c');
    assert.equal(since(1), 'a b c');
    assert.equal(since(0), undefined, 'commit 1 has left a log of three');
    assert.deepEqual([...source.resources.keys()].sort(), ['a', 'c']);
  });

  it('makes the state-of-the-world snapshot by concatenation, once per commit, versioned by the digest sum', () => {
    const pub = new ResourcePublisher();
    pub.set(T, 'a', res('A'), '00000000000000f0');
    pub.set(T, 'b', res('B'), 'chosen');
    pub.commit();
    const snap = pub.current(T)!;
    assert.equal(pub.current(T), snap, 'cached until the next commit');
    assert.deepEqual(Buffer.from(snap.resources[0]!.value).toString(), 'AB');
    const sum = new DigestSum();
    sum.toggle(versionDigest('00000000000000f0'));
    sum.toggle(versionDigest('chosen'));
    assert.equal(snap.version, sum.hex);
    assert.equal(pub.named(T)?.version, sum.hex, 'delta streams report the same version');
    pub.remove(T, 'b');
    pub.commit();
    assert.equal(pub.current(T)?.version, '00000000000000f0');
  });

  it('publish() replaces a type whole, with the version given, and is a no-op for the same version', () => {
    const pub = new ResourcePublisher();
    let heard = 0;
    pub.watch(() => heard++);
    pub.publish(T, [res('X'), res('Y')], 'v1');
    pub.publish(T, [res('X'), res('Y')], 'v1');
    assert.equal(heard, 1);
    assert.deepEqual(pub.current(T), { version: 'v1', resources: [res('X'), res('Y')] });
    pub.publish(T, [res('Z')], 'v2');
    assert.deepEqual([...pub.named(T)!.resources.keys()], ['0']);
    assert.equal(pub.named(T)?.version, 'v2');
  });
});
