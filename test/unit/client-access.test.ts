// SPEC §10 exposure: which listen addresses are loopback, CIDR parsing, and who an allow list admits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientAllowList, isLoopbackHost, parseCidr } from '../../src/server/index.js';

describe('isLoopbackHost', () => {
  const cases: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['fe80::1', false],
  ];
  for (const [host, loopback] of cases) {
    it(`${host} → ${loopback}`, () => assert.equal(isLoopbackHost(host), loopback));
  }
});

describe('parseCidr', () => {
  const good: [string, string, number][] = [
    ['10.0.0.0/8', '10.0.0.0', 8],
    ['192.0.2.7', '192.0.2.7', 32],
    ['0.0.0.0/0', '0.0.0.0', 0],
    ['fd00::/8', 'fd00::', 8],
    ['2001:db8::1', '2001:db8::1', 128],
  ];
  for (const [text, address, prefix] of good) {
    it(`${text} → ${address}/${prefix}`, () => {
      const c = parseCidr(text);
      assert.ok(typeof c !== 'string', String(c));
      assert.equal(c.address, address);
      assert.equal(c.prefix, prefix);
    });
  }
  const bad: [string, RegExp][] = [
    ['10.0.0.0/33', /0-32 for IPv4/],
    ['fd00::/129', /0-128 for IPv6/],
    ['10.0.0.0/', /prefix length ""/],
    ['10.0.0.0/-1', /prefix length "-1"/],
    ['10.0.0.0/8/8', /prefix length "8\/8"/],
    ['example.com/8', /"example.com" is not an IP address/],
    ['', /"" is not an IP address/],
  ];
  for (const [text, why] of bad) {
    it(`"${text}" is refused`, () => {
      const c = parseCidr(text);
      assert.equal(typeof c, 'string');
      assert.match(c as string, why);
    });
  }
});

describe('ClientAllowList', () => {
  const list = new ClientAllowList(
    ['127.0.0.2/32', '10.0.0.0/8', 'fd00::/8'].map(
      (t) => parseCidr(t) as Exclude<ReturnType<typeof parseCidr>, string>,
    ),
  );
  const cases: [string, boolean][] = [
    ['127.0.0.2', true],
    ['127.0.0.1', false],
    ['10.200.3.4', true],
    ['11.0.0.1', false],
    ['fd12:3456::1', true],
    ['::1', false],
    // A dual-stack `::` listener sees IPv4 clients as IPv4-mapped IPv6 addresses.
    ['::ffff:10.1.2.3', true],
    ['::ffff:192.0.2.1', false],
  ];
  for (const [client, allowed] of cases) {
    it(`${client} → ${allowed ? 'answered' : 'REFUSED'}`, () => assert.equal(list.allows(client), allowed));
  }
});
