// The test API server's patch formats, as tables: JSON Patch (RFC 6902, with the examples' shapes of its
// appendix A) and JSON Merge Patch (RFC 7386), and the HTTP code each failure maps to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyJsonPatch, applyMergePatch, KubeStatusError } from '../helpers/kube/index.js';

const doc = { a: { b: 'c', 'x/y': 1, 't~u': 2 }, list: ['p', 'q'] };

describe('JSON patch (RFC 6902)', () => {
  const cases: { name: string; patch: unknown[]; want: unknown }[] = [
    {
      name: 'add a member',
      patch: [{ op: 'add', path: '/a/d', value: 4 }],
      want: { ...doc, a: { ...doc.a, d: 4 } },
    },
    {
      name: 'add into an array',
      patch: [{ op: 'add', path: '/list/1', value: 'n' }],
      want: { ...doc, list: ['p', 'n', 'q'] },
    },
    {
      name: 'append with -',
      patch: [{ op: 'add', path: '/list/-', value: 'r' }],
      want: { ...doc, list: ['p', 'q', 'r'] },
    },
    { name: 'remove', patch: [{ op: 'remove', path: '/a/b' }], want: { ...doc, a: { 'x/y': 1, 't~u': 2 } } },
    {
      name: 'replace, ~1 is /',
      patch: [{ op: 'replace', path: '/a/x~1y', value: 9 }],
      want: { ...doc, a: { ...doc.a, 'x/y': 9 } },
    },
    {
      name: '~0 is ~',
      patch: [{ op: 'replace', path: '/a/t~0u', value: 8 }],
      want: { ...doc, a: { ...doc.a, 't~u': 8 } },
    },
    {
      name: 'move',
      patch: [{ op: 'move', from: '/a/b', path: '/moved' }],
      want: { a: { 'x/y': 1, 't~u': 2 }, list: ['p', 'q'], moved: 'c' },
    },
    {
      name: 'copy',
      patch: [{ op: 'copy', from: '/list/0', path: '/list/-' }],
      want: { ...doc, list: ['p', 'q', 'p'] },
    },
    {
      name: 'test that holds, then replace',
      patch: [
        { op: 'test', path: '/list', value: ['p', 'q'] },
        { op: 'replace', path: '/list', value: [] },
      ],
      want: { ...doc, list: [] },
    },
    {
      name: 'test of an absent member against null',
      patch: [{ op: 'test', path: '/a/none', value: null }],
      want: doc,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(applyJsonPatch(doc, c.patch), c.want);
    });
  }

  const failures: { name: string; patch: unknown; code: number }[] = [
    { name: 'a failed test is 422', patch: [{ op: 'test', path: '/a/b', value: 'other' }], code: 422 },
    {
      name: 'a failed test undoes earlier ops',
      patch: [
        { op: 'add', path: '/z', value: 1 },
        { op: 'test', path: '/z', value: 2 },
      ],
      code: 422,
    },
    { name: 'remove of a missing path is 422', patch: [{ op: 'remove', path: '/a/none' }], code: 422 },
    {
      name: 'replace of a missing path is 422',
      patch: [{ op: 'replace', path: '/none', value: 1 }],
      code: 422,
    },
    { name: 'an index past the end is 422', patch: [{ op: 'add', path: '/list/5', value: 1 }], code: 422 },
    { name: 'a body that is not an array is 400', patch: { op: 'add' }, code: 400 },
    { name: 'an unknown op is 400', patch: [{ op: 'frob', path: '/a' }], code: 400 },
    { name: 'add without value is 400', patch: [{ op: 'add', path: '/a' }], code: 400 },
  ];
  for (const f of failures) {
    it(f.name, () => {
      const before = structuredClone(doc);
      assert.throws(
        () => applyJsonPatch(doc, f.patch),
        (err) => err instanceof KubeStatusError && err.status.code === f.code,
      );
      assert.deepEqual(doc, before, 'the input is never changed');
    });
  }
});

describe('JSON merge patch (RFC 7386)', () => {
  const cases: { target: unknown; patch: unknown; want: unknown }[] = [
    { target: { a: 'b' }, patch: { a: 'c' }, want: { a: 'c' } },
    { target: { a: 'b' }, patch: { b: 'c' }, want: { a: 'b', b: 'c' } },
    { target: { a: 'b' }, patch: { a: null }, want: {} },
    { target: { a: ['b'] }, patch: { a: ['c', 'd'] }, want: { a: ['c', 'd'] } },
    { target: { a: { b: 'c', d: 'e' } }, patch: { a: { d: null, f: 1 } }, want: { a: { b: 'c', f: 1 } } },
    { target: { a: 'b' }, patch: ['c'], want: ['c'] },
    { target: 'x', patch: { a: { b: null } }, want: { a: {} } },
  ];
  for (const [i, c] of cases.entries()) {
    it(`case ${i + 1}: ${JSON.stringify(c.patch)}`, () => {
      assert.deepEqual(applyMergePatch(c.target, c.patch), c.want);
    });
  }
});
