// STYLE.md practice 1: a folder's index.ts is its public surface. The exceptions are light entries
// that exist so the answering thread loads only what it needs (SPEC §4: forward from the first
// moment): each is named here with why, and any other import across folders fails this test.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Entries besides index.ts that other folders may import, and why each is its own entry. */
const LIGHT_ENTRIES: Record<string, string> = {
  'server/metrics.ts': 'loads prom-client: imported once the DNS listeners answer',
  'upstream/metrics.ts': 'loads prom-client: imported once the DNS listeners answer',
  'allocate/range.ts': 'VIP range flags are checked before the DNS socket binds, without zod',
  'controller/state-path.ts': 'the default state file is named on the answering thread, without zod',
  'controller/remote.ts': 'the answering side of the controller worker, without the model',
  'vip/capability.ts': '`--vip-dataplane nat` is refused without NET_ADMIN before the DNS socket binds',
  'vip/dataplane.ts': 'the choices of `--vip-dataplane`, checked before the DNS socket binds',
  'vip/nat-rules.ts': '`capture --remove` names the NAT chains without loading the proxy',
  'vip/routes.ts': "the agent's snapshot checks the VIP routes it reads back without loading the proxy",
  'model/types.ts': 'the resolutions a VIP route may have, checked without loading the model (zod)',
  'allocate/replace-file.ts': "the agent's snapshot is written as the state file is, without zod",
  'allocate/state-target.ts': "the agent's snapshot follows symlinks as the state file does, without zod",
  'nametable/entry.ts':
    '`--vip-holdback` is checked against the answer TTL before the DNS socket binds, without the model',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every relative module a file imports, statically or dynamically, as a path under src/ ending in .ts. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, resolve(dirname(file), `${s}.ts`)));
}

describe('module boundaries', () => {
  it('imports across src/ folders go through index.ts or a named light entry', () => {
    const wrong: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = relative(SRC, file);
      for (const target of importsOf(file)) {
        const folder = dirname(target);
        if (folder === '.' || folder === dirname(from)) continue;
        if (target.endsWith('/index.ts') || target in LIGHT_ENTRIES) continue;
        wrong.push(`${from} imports ${target}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('finds the imports it checks (a check that sees nothing passes for nothing)', () => {
    const all = sourceFiles(SRC).flatMap(importsOf);
    assert.ok(all.length > 200, `${all.length} imports`);
    assert.ok(all.includes('controller/remote.ts'), 'a dynamic import is seen');
    for (const entry of Object.keys(LIGHT_ENTRIES)) assert.ok(all.includes(entry), `${entry} is still used`);
  });
});
