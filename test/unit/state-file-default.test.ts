// The default state file: one per manifests folder (issue 8 finding 4), the same for a folder however
// it is named (symlinks resolved), and the legacy shared file named only where the default is used.
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultStateFile, legacyStateFile } from '../../src/controller/index.js';
import { tempFolder } from '../helpers/manifests.js';

describe('default state file', () => {
  const dir = tempFolder('meshdns-state-default-unit-');

  it('two folders of one parent get distinct files beside them, named after each folder', async () => {
    await mkdir(join(dir(), 'a'));
    await mkdir(join(dir(), 'b'));
    const cases: [string, string][] = [
      [join(dir(), 'a'), join(dir(), '.meshdns', 'a.allocations.json')],
      [join(dir(), 'b'), join(dir(), '.meshdns', 'b.allocations.json')],
      [`${join(dir(), 'a')}/`, join(dir(), '.meshdns', 'a.allocations.json')],
      [join(dir(), 'a', '..', 'b'), join(dir(), '.meshdns', 'b.allocations.json')],
    ];
    for (const [folder, expected] of cases) assert.equal(defaultStateFile(folder), expected, folder);
  });

  it('a symlink to a folder gives the folder’s own file', async () => {
    await mkdir(join(dir(), 'real'), { recursive: true });
    await mkdir(join(dir(), 'links'));
    await symlink(join(dir(), 'real'), join(dir(), 'links', 'alias'));
    assert.equal(
      defaultStateFile(join(dir(), 'links', 'alias')),
      join(dir(), '.meshdns', 'real.allocations.json'),
    );
  });

  it('the legacy shared file seeds only the default state file', async () => {
    const folder = join(dir(), 'a');
    const legacy = join(dir(), '.meshdns', 'allocations.json');
    assert.equal(legacyStateFile(folder, defaultStateFile(folder)), legacy);
    assert.equal(legacyStateFile(folder, join(dir(), 'mine.json')), undefined);
  });
});
