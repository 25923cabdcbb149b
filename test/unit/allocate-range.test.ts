// VIP range flags and the address forms the allocator reads and writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bigIntToIp, ipToBigInt, parseVipRange } from '../../src/allocate/index.js';

describe('VIP ranges', () => {
  const cases: [string, 4 | 6, string][] = [
    ['240.240.0.0/16', 4, '240.240.0.1 240.240.255.254'],
    ['240.240.0.0/30', 4, '240.240.0.1 240.240.0.2'],
    ['2001:2::/48', 6, '2001:2::1 2001:2:0:ffff:ffff:ffff:ffff:ffff'],
    ['2001:2::/127', 6, '2001:2::1 2001:2::1'],
    ['240.240.0.0/31', 4, 'too small: no address left besides the network address'],
    ['2001:2::/48', 4, 'not an IPv4 range'],
    ['240.240.0.0', 4, 'not a CIDR such as 240.240.0.0/16'],
    ['240.240.0.0/33', 4, 'not a CIDR such as 240.240.0.0/16'],
  ];
  for (const [text, family, want] of cases) {
    it(`${text} as IPv${family}`, () => {
      const r = parseVipRange(text, family);
      const got = typeof r === 'string' ? r : `${bigIntToIp(r.first, family)} ${bigIntToIp(r.last, family)}`;
      assert.equal(got, want);
    });
  }

  it('any IPv6 value formats as the WHATWG URL parser writes it (RFC 5952), and reads back', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const v = groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
        const text = bigIntToIp(v, 6);
        const url = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname;
        return `[${text}]` === url && ipToBigInt(text) === v;
      }),
    );
  });

  it('IPv6 addresses in their RFC 5952 form', () => {
    for (const [text, want] of [
      ['2001:0002:0000:0000:0000:0000:0000:0001', '2001:2::1'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::', '::'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ]) {
      assert.equal(bigIntToIp(ipToBigInt(text!), 6), want);
    }
  });
});
