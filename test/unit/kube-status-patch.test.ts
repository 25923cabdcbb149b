// The status.addresses patch as a table: for each status the writer may have read, the patch applies over
// that very status and fails (422, RFC 6902 `test`) over any other, whatever else changed in between.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressesOf,
  addressesPatch,
  desiredAddresses,
  readStatus,
  sameAddresses,
} from '../../src/controller/kube/index.js';
import { applyJsonPatch, KubeStatusError } from '../helpers/kube/index.js';
import { serviceEntry } from '../helpers/resources.js';

const desired = [
  { value: '240.240.0.1', host: 'db.example.com' },
  { value: '2001:2::1', host: 'db.example.com' },
];
const theirs = [{ value: '240.240.0.9', host: 'db.example.com' }];
const conditions = [{ type: 'Reconciled', status: 'True' }];
const obj = (status?: unknown) => ({
  metadata: { name: 'db' },
  spec: { hosts: ['db.example.com'] },
  ...(status === undefined ? {} : { status }),
});

describe('addressesPatch', () => {
  const reads = [
    { name: 'no status', read: obj(), after: { addresses: desired } },
    {
      name: 'status without addresses',
      read: obj({ conditions }),
      after: { conditions, addresses: desired },
    },
    {
      name: 'addresses present',
      read: obj({ conditions, addresses: theirs }),
      after: { conditions, addresses: desired },
    },
    { name: 'addresses null', read: obj({ addresses: null }), after: { addresses: desired } },
  ];
  const others = [
    obj(),
    obj({ conditions }),
    obj({ conditions, addresses: theirs }),
    obj({ addresses: [{ value: '240.240.0.5', host: 'db.example.com' }] }),
    obj({ addresses: [] }),
  ];
  for (const c of reads) {
    it(`over ${c.name}: applies to what was read, and fails with 422 on any other status`, () => {
      const patch = addressesPatch(readStatus(c.read), desired);
      const out = applyJsonPatch(c.read, patch) as { status: unknown; spec: unknown };
      assert.deepEqual(out.status, c.after);
      assert.deepEqual(out.spec, c.read.spec);
      for (const other of others) {
        if (JSON.stringify(other.status) === JSON.stringify(c.read.status)) continue;
        // A test for null passes where the member is absent, as kube-apiserver's JSON patch reads it.
        const absent = readStatus(other).kind === 'no-addresses';
        if (c.name === 'addresses null' && absent) continue;
        assert.throws(
          () => applyJsonPatch(other, patch),
          (e: unknown) => e instanceof KubeStatusError && e.status.code === 422,
          `${JSON.stringify(other.status)}`,
        );
      }
    });
  }

  it('removes the addresses when none should be held, and writes nothing where none are', () => {
    const patch = addressesPatch(readStatus(obj({ conditions, addresses: theirs })), []);
    assert.deepEqual(
      (applyJsonPatch(obj({ conditions, addresses: theirs }), patch) as { status: unknown }).status,
      {
        conditions,
      },
    );
    assert.deepEqual(addressesPatch(readStatus(obj()), []), []);
    assert.deepEqual(addressesPatch(readStatus(obj({ conditions })), []), []);
  });
});

describe('desiredAddresses and sameAddresses', () => {
  it("lists the entry's hosts in spec order, IPv4 then IPv6, skipping hosts without VIPs", () => {
    const entry = serviceEntry('default', 'db', ['b.example.com', 'a.example.com', 'c.example.com']);
    const base = { namespace: 'default', name: 'db', entry };
    const got = desiredAddresses([
      { ...base, host: 'a.example.com', state: 'new', v4: '240.240.0.1', v6: '2001:2::1' },
      { ...base, host: 'b.example.com', state: 'allocated', v4: '240.240.0.2', v6: '2001:2::2' },
      { ...base, host: 'c.example.com', state: 'exhausted' },
    ]);
    assert.deepEqual(got, [
      { value: '240.240.0.2', host: 'b.example.com' },
      { value: '2001:2::2', host: 'b.example.com' },
      { value: '240.240.0.1', host: 'a.example.com' },
      { value: '2001:2::1', host: 'a.example.com' },
    ]);
    assert.ok(sameAddresses(got, [...got].reverse()), 'order carries no meaning');
    assert.ok(!sameAddresses(got, got.slice(1)));
    assert.deepEqual(desiredAddresses([]), []);
  });

  it('reads host names in their one internal form, and an item of another shape as no address', () => {
    const read = readStatus(obj({ addresses: [{ value: '240.240.0.1', host: 'DB.Example.com.' }, 'junk'] }));
    const got = addressesOf(read);
    assert.deepEqual(got[0], { value: '240.240.0.1', host: 'db.example.com' });
    assert.ok(!sameAddresses(got, [{ value: '240.240.0.1', host: 'db.example.com' }]));
    assert.deepEqual(addressesOf(readStatus(obj({ conditions }))), []);
  });
});
