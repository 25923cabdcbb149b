import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MeshdnsError } from '../../src/errors.js';
import {
  formatUpstream,
  parseResolvConf,
  parseUpstreamAddress,
  type ResolvConf,
  readResolvConf,
} from '../../src/upstream/index.js';

const DEFAULTS: ResolvConf = {
  nameservers: ['127.0.0.1'],
  defaulted: true,
  search: [],
  ndots: 1,
  timeoutMs: 5000,
  attempts: 2,
  rotate: false,
};

const resolvCases: Array<{ name: string; text: string; want: Partial<ResolvConf> }> = [
  { name: 'empty file: glibc defaults, local server', text: '', want: {} },
  {
    name: 'Kubernetes pod',
    text: [
      'search default.svc.cluster.local svc.cluster.local cluster.local',
      'nameserver 10.96.0.10',
      'options ndots:5',
      '',
    ].join('\n'),
    want: {
      nameservers: ['10.96.0.10'],
      search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      ndots: 5,
    },
  },
  {
    name: 'IPv4 and IPv6 servers in order, scope kept, more than three kept',
    text: 'nameserver 1.1.1.1\nnameserver ::1\nnameserver fe80::1%eth0\nnameserver 8.8.8.8\n',
    want: { nameservers: ['1.1.1.1', '::1', 'fe80::1%eth0', '8.8.8.8'] },
  },
  {
    name: 'invalid addresses and host names skipped; only the first word counts',
    text: 'nameserver dns.example.com\nnameserver 1.2.3\nnameserver 9.9.9.9 1.1.1.1\n',
    want: { nameservers: ['9.9.9.9'] },
  },
  {
    name: 'comments with # and ;, whole-line and trailing',
    text: '# nameserver 1.1.1.1\n; nameserver 2.2.2.2\nnameserver 3.3.3.3 # the router\nsearch a.example ; b.example\n',
    want: { nameservers: ['3.3.3.3'], search: ['a.example'] },
  },
  {
    name: 'keyword must start the line and be followed by a blank (glibc MATCH)',
    text: '  nameserver 1.1.1.1\nnameserver\t2.2.2.2\nnameservers 3.3.3.3\nNAMESERVER 4.4.4.4\n',
    want: { nameservers: ['2.2.2.2'] },
  },
  {
    name: 'search: lower-cased, trailing dot stripped, root dropped',
    text: 'search Corp.Example.COM. example.org .\n',
    want: { search: ['corp.example.com', 'example.org'] },
  },
  {
    name: 'the last of search/domain wins (domain)',
    text: 'search a.example b.example\ndomain Home.Lan\n',
    want: { search: ['home.lan'] },
  },
  {
    name: 'the last of search/domain wins (search)',
    text: 'domain home.lan\nsearch a.example b.example\n',
    want: { search: ['a.example', 'b.example'] },
  },
  {
    name: 'options: all of them, several lines accumulate, unknown ignored',
    text: 'options ndots:3 timeout:2 edns0\noptions attempts:4 rotate trust-ad\n',
    want: { ndots: 3, timeoutMs: 2000, attempts: 4, rotate: true },
  },
  {
    name: 'options capped like glibc',
    text: 'options ndots:99 timeout:120 attempts:9\n',
    want: { ndots: 15, timeoutMs: 30_000, attempts: 5 },
  },
  {
    name: 'options: zero clamped to a usable minimum, ndots:0 kept',
    text: 'options ndots:0 timeout:0 attempts:0\n',
    want: { ndots: 0, timeoutMs: 1000, attempts: 1 },
  },
  {
    name: 'options: malformed values ignored',
    text: 'options ndots:x timeout:-1 attempts:\n',
    want: {},
  },
  {
    name: 'CRLF line endings and unknown lines',
    text: 'sortlist 130.155.160.0/255.255.240.0\r\nnameserver 192.0.2.53\r\nlookup file bind\r\n',
    want: { nameservers: ['192.0.2.53'] },
  },
];

describe('parseResolvConf', () => {
  for (const c of resolvCases) {
    test(c.name, () => {
      // A case that names servers has not fallen back to the local host.
      const defaulted = c.want.nameservers === undefined;
      assert.deepEqual(parseResolvConf(c.text), { ...DEFAULTS, defaulted, ...c.want });
    });
  }
});

describe('readResolvConf', () => {
  test('reads and parses a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-resolv-'));
    try {
      const path = join(dir, 'resolv.conf');
      await writeFile(path, 'nameserver 10.0.0.1\nsearch ns1.svc.cluster.local\n');
      const conf = await readResolvConf(path);
      assert.deepEqual(conf.nameservers, ['10.0.0.1']);
      assert.deepEqual(conf.search, ['ns1.svc.cluster.local']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreadable file is MESHDNS_RESOLV_CONF naming the path', async () => {
    const path = join(tmpdir(), 'meshdns-no-such-dir', 'resolv.conf');
    await assert.rejects(readResolvConf(path), (err: unknown) => {
      assert.ok(err instanceof MeshdnsError);
      assert.equal(err.code, 'MESHDNS_RESOLV_CONF');
      assert.ok(err.message.startsWith(`${path}: `), err.message);
      assert.match(err.message, /ENOENT/);
      return true;
    });
  });
});

const addressCases: Array<{ spec: string; port?: number; want: { host: string; port: number } }> = [
  { spec: '1.2.3.4', want: { host: '1.2.3.4', port: 53 } },
  { spec: '1.2.3.4:5353', want: { host: '1.2.3.4', port: 5353 } },
  { spec: ' 10.96.0.10 ', want: { host: '10.96.0.10', port: 53 } },
  { spec: '::1', want: { host: '::1', port: 53 } },
  { spec: '[::1]', want: { host: '::1', port: 53 } },
  { spec: '[::1]:53', want: { host: '::1', port: 53 } },
  { spec: '[2001:db8::53]:5353', want: { host: '2001:db8::53', port: 5353 } },
  { spec: 'fe80::1%eth0', want: { host: 'fe80::1%eth0', port: 53 } },
  { spec: '[fe80::1%eth0]:54', want: { host: 'fe80::1%eth0', port: 54 } },
  { spec: '2001:db8::1', port: 5300, want: { host: '2001:db8::1', port: 5300 } },
  { spec: '1.2.3.4', port: 5300, want: { host: '1.2.3.4', port: 5300 } },
];

const badAddresses: Array<{ spec: string; reason: RegExp }> = [
  { spec: '', reason: /empty/ },
  { spec: 'dns.example.com', reason: /not an IP address/ },
  { spec: 'dns.example.com:53', reason: /not an IP address/ },
  { spec: '1.2.3.4:', reason: /port ""/ },
  { spec: '1.2.3.4:0', reason: /port "0"/ },
  { spec: '1.2.3.4:65536', reason: /port "65536"/ },
  { spec: '1.2.3.4:53x', reason: /port "53x"/ },
  { spec: '1.2.3.4:-1', reason: /port "-1"/ },
  { spec: '[1.2.3.4]:53', reason: /not an IPv6 address/ },
  { spec: '[::1]53', reason: /not an IPv6 address|not an IP address/ },
  { spec: '[::1]:', reason: /port ""/ },
  { spec: '::1:53:', reason: /not an IP address/ },
  { spec: '256.1.1.1', reason: /not an IP address/ },
];

describe('parseUpstreamAddress', () => {
  for (const c of addressCases) {
    test(`${JSON.stringify(c.spec)}${c.port ? ` (default port ${c.port})` : ''}`, () => {
      assert.deepEqual(parseUpstreamAddress(c.spec, c.port), c.want);
    });
  }
  for (const c of badAddresses) {
    test(`${JSON.stringify(c.spec)} is refused`, () => {
      assert.throws(
        () => parseUpstreamAddress(c.spec),
        (err: unknown) => {
          assert.ok(err instanceof MeshdnsError);
          assert.equal(err.code, 'MESHDNS_FLAG_INVALID');
          assert.match(err.message, c.reason);
          assert.match(err.message, /expected IP/);
          return true;
        },
      );
    });
  }
});

describe('formatUpstream', () => {
  test('brackets IPv6 only', () => {
    assert.equal(formatUpstream({ host: '10.0.0.1', port: 53 }), '10.0.0.1:53');
    assert.equal(formatUpstream({ host: '::1', port: 5353 }), '[::1]:5353');
  });
});
