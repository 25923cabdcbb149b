// `serve`'s manifests flags as a user meets them: bad values fail fast naming the flag; the size
// limit's message names the flag that raises it; the rescan interval bounds an event-less change.
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ask } from '../helpers/dns-client.js';
import { runCli, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const svc = (ip: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: default}\nspec: {clusterIP: ${ip}}\n`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshdns-cli-manifests-'));
  await mkdir(join(dir, 'manifests'));
});
after(() => rm(dir, { recursive: true, force: true }));

const serveArgs = () => [
  'serve',
  '--manifests',
  join(dir, 'manifests'),
  '--upstream',
  '127.0.0.1:9',
  '--search',
  'default.svc.cluster.local',
  '--state-file',
  join(dir, 'state.json'),
];

describe('meshdns serve: manifests flags', () => {
  const cases = [
    { flag: '--max-manifest-bytes', value: 'lots' },
    { flag: '--max-manifest-bytes', value: '0' },
    { flag: '--manifests-rescan-interval', value: '-1' },
    { flag: '--manifests-rescan-interval', value: String(2 ** 31) },
  ];
  for (const c of cases) {
    it(`${c.flag} ${c.value}: exits non-zero naming the flag`, async () => {
      const { code, stderr } = await runCli([...serveArgs(), c.flag, c.value]);
      assert.notEqual(code, 0);
      assert.match(stderr, new RegExp(`${c.flag} "${c.value}"`));
    });
  }

  it('a file over --max-manifest-bytes is reported naming the flag; a change no event reports is seen', async () => {
    const manifests = join(dir, 'manifests');
    const file = join(manifests, 'api.yaml');
    await writeFile(file, svc('10.1.0.1'));
    await writeFile(join(manifests, 'big.yaml'), `${svc('10.1.0.9')}#${'x'.repeat(300)}\n`);
    const port = await freePort('127.0.0.1');
    const args = ['--max-manifest-bytes', '200', '--manifests-rescan-interval', '200'];
    const agent = startCli([...serveArgs(), ...args, '--dns-listen', `127.0.0.1:${port}`]);
    const answer = async () => {
      const reply = await ask('udp', port, 'api.default.svc.cluster.local', 'A');
      return (reply.answers ?? []).map((a) => String('data' in a ? a.data : ''));
    };
    try {
      await waitForDns('127.0.0.1', port);
      assert.deepEqual(await answer(), ['10.1.0.1']);
      assert.match(agent.output(), /big\.yaml: \d+ bytes is over the limit of 200 \(--max-manifest-bytes\)/);
      // Replaced by rename, then written through a hard link from outside the folder: no event
      // in the folder reports that write, only the rescan finds it.
      await writeFile(join(manifests, 'tmp'), svc('10.1.0.2'));
      await rename(join(manifests, 'tmp'), file);
      await link(file, join(dir, 'outside.yaml'));
      await writeFile(join(dir, 'outside.yaml'), svc('10.1.0.3'));
      let got: string[] = [];
      for (let i = 0; i < 100 && got[0] !== '10.1.0.3'; i++) {
        await sleep(50);
        got = await answer();
      }
      assert.deepEqual(got, ['10.1.0.3']);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output());
    }
  });
});
