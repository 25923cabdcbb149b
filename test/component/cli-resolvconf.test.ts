// A resolv.conf without a `nameserver` line: serve forwards to 127.0.0.1:53 as glibc does, and says so
// in its log (naming the file and the fallback) instead of falling back silently.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempFolder } from '../helpers/manifests.js';
import { startCli, waitForOutput } from '../helpers/meshdns.js';

const dir = tempFolder('meshdns-resolvconf-');

describe('serve: resolv.conf without nameservers', () => {
  const cases: { name: string; text: string; flags: string[]; warns: boolean }[] = [
    { name: 'empty file', text: '', flags: [], warns: true },
    { name: 'search only', text: 'search example.internal\noptions ndots:2\n', flags: [], warns: true },
    { name: 'a nameserver line', text: 'nameserver 127.0.0.1\n', flags: [], warns: false },
    { name: 'empty, but --upstream given', text: '', flags: ['--upstream', '127.0.0.1:9'], warns: false },
  ];
  for (const [i, c] of cases.entries()) {
    it(`${c.name}: ${c.warns ? 'warns once, naming the file and 127.0.0.1:53' : 'no warning'}`, async () => {
      const resolv = join(dir(), `resolv-${i}.conf`);
      const state = join(dir(), `state-${i}.json`);
      await writeFile(resolv, c.text);
      const agent = startCli([
        'serve',
        '--manifests',
        'examples',
        '--state-file',
        state,
        '--dns-listen',
        '127.0.0.1:0',
        '--resolv-conf',
        resolv,
        ...c.flags,
      ]);
      try {
        await waitForOutput(agent, /serving DNS/);
        const warnings = agent
          .output()
          .split('\n')
          .filter((line) => line.includes('"level":40') && line.includes('nameserver'));
        if (!c.warns) return assert.deepEqual(warnings, []);
        assert.equal(warnings.length, 1, agent.output());
        const log = JSON.parse(warnings[0]!) as { resolvConf: string; upstream: string; msg: string };
        assert.equal(log.resolvConf, resolv);
        assert.equal(log.upstream, '127.0.0.1:53');
        assert.match(log.msg, /no nameserver line/);
        assert.match(log.msg, /--upstream/);
      } finally {
        assert.equal(await agent.stop(), 0);
        await rm(state, { force: true });
      }
    });
  }
});
