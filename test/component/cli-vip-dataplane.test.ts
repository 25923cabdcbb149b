// `--vip-dataplane nat` without CAP_NET_ADMIN: refused before anything listens, naming the capability
// (SPEC §6). As root the capability is dropped with setpriv; another user has none to begin with.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { hasNetAdmin } from '../../src/vip/index.js';
import { BIN, ROOT, runCli, serveExamples } from '../helpers/meshdns.js';

const SERVE = serveExamples('vip-dataplane-test').args();

/** argv that runs node without CAP_NET_ADMIN, or why this machine cannot. */
function withoutNetAdmin(): string[] | string {
  if (!hasNetAdmin()) return [process.execPath];
  if (process.getuid?.() !== 0) return 'this user holds CAP_NET_ADMIN and cannot drop it without root';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'setpriv (util-linux) is not installed';
  return ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', process.execPath];
}

function run(argv: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const node = withoutNetAdmin();

describe('meshdns serve --vip-dataplane', () => {
  it('nat without NET_ADMIN: exits non-zero before serving, naming the capability', {
    skip: typeof node === 'string' && node,
  }, async () => {
    const r = await run([
      ...(node as string[]),
      BIN,
      ...SERVE,
      '--vip-dataplane',
      'nat',
      '--dns-listen',
      '127.0.0.1:0',
    ]);
    assert.notEqual(r.code, 0, r.output);
    assert.match(
      r.output,
      /MESHDNS_VIP_NAT: --vip-dataplane nat: this process lacks the NET_ADMIN capability/,
    );
    assert.match(r.output, /--vip-dataplane proxy/);
    assert.doesNotMatch(r.output, /serving DNS/);
  });

  it('an unknown data plane is a flag error listing the choices', async () => {
    const r = await runCli([...SERVE, '--vip-dataplane', 'ebpf']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--vip-dataplane.*ebpf.*(proxy|choices)/s);
  });
});
