// VIP range flags and the address forms the allocator reads and writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
