// `node dist/bench/manifest-parse.js [objects]`: YAML manifests read by `yaml` (the reference path),
// by the fast paths (src/model/fastyaml.ts: the line reader, then js-yaml) and by the line reader
// alone, side by side, on the scale fixture in both layouts, then `loadManifests` on each folder. CPU milliseconds of this process (medians of 5),
// so other work on a shared machine skews them less than wall time. Not a test.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { fastYamlDocuments } from '../src/model/index.js';
// The line reader alone (fastYamlDocuments tries it first, then js-yaml).
import { lineYamlDocuments } from '../src/model/lineyaml.js';
import { loadManifests } from '../src/sources/index.js';
import { LAYOUTS, ScaleFixture } from './fixtures/scale.js';

const objects = Number(process.argv[2] ?? 10_000);
const ROUNDS = 5;

function cpuMs(run: () => unknown): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const show = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(' ')})`;

const root = await mkdtemp(join(tmpdir(), 'meshdns-parse-'));
try {
  for (const layout of LAYOUTS) {
    const dir = join(root, layout);
    await ScaleFixture.write(dir, { services: objects / 2, entries: objects / 2 }, layout);
    const files = await readdir(dir);
    const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
    const yamlMs: number[] = [];
    const fastMs: number[] = [];
    const lineMs: number[] = [];
    let fallbacks = 0;
    let notLine = 0;
    for (let round = 0; round < ROUNDS; round++) {
      yamlMs.push(
        cpuMs(() => texts.map((t) => parseAllDocuments(t).map((d) => d.toJS({ maxAliasCount: 100 })))),
      );
      fastMs.push(cpuMs(() => texts.map((t) => fastYamlDocuments(t) ?? fallbacks++)));
      lineMs.push(cpuMs(() => texts.map((t) => lineYamlDocuments(t) ?? notLine++)));
    }
    const loadMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.cpuUsage();
      await loadManifests(dir);
      const used = process.cpuUsage(start);
      loadMs.push((used.user + used.system) / 1000);
    }
    console.log(`${objects} objects, ${layout} (${files.length} files)`);
    console.log(`  yaml parse      ${show(yamlMs)}`);
    console.log(`  fast path parse ${show(fastMs)}  ratio ${(median(yamlMs) / median(fastMs)).toFixed(1)}x`);
    console.log(`  line reader     ${show(lineMs)}  files it left to js-yaml: ${notLine / ROUNDS}`);
    console.log(`  files left to yaml: ${fallbacks / ROUNDS}`);
    console.log(`  loadManifests   ${show(loadMs)}`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
