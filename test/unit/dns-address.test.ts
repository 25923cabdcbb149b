// The address checks the model and the allocator run on every object: the same verdicts as Node's
// net.isIP, which they replace on the hot path.
import assert from 'node:assert/strict';
import { isIP, isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ipFamily, ipToBytes, ipv4Value, isIPv6Text } from '../../src/dns/index.js';

const TRICKY = [
  '0.0.0.0',
  '255.255.255.255',
  '10.96.0.1',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '1.2.3.04',
  '1.2.3.0',
  '1..2.3',
  '.1.2.3',
  '1.2.3.',
  '1.2.3.4 ',
  ' 1.2.3.4',
  '1.2.3.-4',
  '1.2.3.1000',
  '١.٢.٣.٤',
  '',
  '::',
  '::1',
  '2001:2::7',
  '::ffff:192.0.2.1',
  'fe80::1%eth0',
  '2001:db8::g',
  'se-1.ns-1.example.com',
  'None',
  '10.0.0.0/8',
];

describe('IP address checks', () => {
  it('ipFamily agrees with net.isIP on tricky values', () => {
    for (const v of TRICKY) assert.equal(ipFamily(v), isIP(v), v);
  });

  it('ipFamily agrees with net.isIP on generated dotted strings', () => {
    const part = fc.oneof(fc.nat(300).map(String), fc.constantFrom('', '0', '00', '01', '-1', 'a', ' '));
    const dotted = fc.array(part, { minLength: 1, maxLength: 6 }).map((p) => p.join('.'));
    fc.assert(fc.property(fc.oneof(dotted, fc.string()), (v) => ipFamily(v) === isIP(v)));
  });

  it('isIPv6Text agrees with net.isIPv6 on addresses, near-addresses and zones', () => {
    // Groups, gaps and tails that are valid, too long, not hex or not a quad, joined by one or two colons.
    const group = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 5 }),
      fc.constantFrom('0', 'ffff', 'FFFF', 'g', '1.2.3.4', '256.1.1.1', '01.2.3.4', ''),
    );
    const sep = fc.constantFrom(':', ':', ':', '::', ':::');
    const joined = fc
      .array(fc.tuple(group, sep), { minLength: 0, maxLength: 10 })
      .chain((parts) => group.map((last) => parts.map(([g, s]) => g + s).join('') + last));
    const zone = fc.oneof(fc.constant(''), fc.constantFrom('%eth0', '%', '%1', '%a.b-c:d', '%e f', '%é'));
    const withZone = fc.tuple(fc.oneof(joined, fc.ipV6(), fc.ipV4()), zone).map(([a, z]) => a + z);
    fc.assert(
      fc.property(fc.oneof(withZone, fc.string()), (v) => isIPv6Text(v) === isIPv6(v)),
      { numRuns: 20_000 },
    );
    for (const v of [
      '::',
      '::1',
      '1::',
      '1:2:3:4:5:6:7::',
      '::2:3:4:5:6:7:8',
      '1:2:3:4:5:6:1.2.3.4',
      '::ffff:1.2.3.4',
    ]) {
      assert.ok(isIPv6Text(v), v);
    }
    for (const v of [
      ':::',
      '1:::2',
      ':1::',
      '1::2:',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '::1.2.3.4:5',
      '%eth0',
    ]) {
      assert.ok(!isIPv6Text(v), v);
    }
  });

  it('ipv4Value is the address as a 32-bit number, and ipToBytes its bytes', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), (n) => {
        const text = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        return ipv4Value(text) === n && ipToBytes(text).readUInt32BE(0) === n;
      }),
    );
    assert.equal(ipv4Value('1.2.3'), -1);
  });
});
