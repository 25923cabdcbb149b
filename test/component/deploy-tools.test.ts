// deploy/ against the real tools: the CLI accepts the manifests' commands and flags, the agent's exec
// probe answers for a real admin endpoint, `kubectl kustomize` renders both kustomizations and an
// `images:` override, and the Dockerfile runs what the manifests expect.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { flagsOf, flagValue, isMeshdns, loadDeploy, type Obj, podContainers } from '../helpers/deploy.js';
import { haveKubectl, KUBECTL_MISSING } from '../helpers/kube/kubectl.js';
import { BIN, ROOT } from '../helpers/meshdns.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const all = loadDeploy();
const resources = all.filter((o) => o.obj.kind !== 'Kustomization');
const meshdns = podContainers(resources).filter(isMeshdns);
const argsOf = (command: string): string[] =>
  meshdns.find((c) => c.container.args[0] === command)!.container.args;

describe('deploy/: the CLI accepts the manifests', () => {
  const commands = [...new Set(meshdns.map((c) => c.container.args[0] as string))].sort();

  it('finds the three commands it checks', () => {
    assert.deepEqual(commands, ['agent', 'capture', 'controller']);
  });

  for (const command of commands) {
    it(`meshdns ${command} --help lists every flag the manifests pass`, async () => {
      const help = await run(BIN, [command, '--help']);
      // An unknown command prints the top-level help instead.
      assert.ok(help.stdout.startsWith(`Usage: meshdns ${command} `), help.stdout);
      const known = new Set(help.stdout.match(/--[a-z0-9-]+/g));
      const used = meshdns.filter((c) => c.container.args[0] === command).flatMap((c) => c.container.args);
      assert.deepEqual(
        flagsOf(used).filter((f) => !known.has(f)),
        [],
      );
    });
  }

  it("meshdns capture takes the init container's values (printed, not applied)", async () => {
    const args = argsOf('capture').filter((a) => a !== '--apply');
    const out = await run(BIN, args);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /-m owner --uid-owner 1337 -j RETURN/);
    assert.match(out.stdout, /-m owner --gid-owner 1337 -j RETURN/);
  });
});

describe("deploy/: the agent's exec probe", () => {
  const agent = meshdns.find((c) => c.container.args[0] === 'agent')!.container;

  it('exits 0 while the admin API says ready, 1 when it says not ready or does not answer', async () => {
    const command: string[] = agent.startupProbe.exec.command;
    assert.deepEqual(agent.readinessProbe.exec.command, command);
    assert.deepEqual(command.slice(0, 2), ['node', '-e']);
    const admin = flagValue(agent.args, '--admin-listen')!;
    const script = command[2]!;
    assert.ok(script.includes(`http://${admin}/healthz/ready`), 'the probe asks the agent its admin port');

    let status = 200;
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/healthz/ready' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const here = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const probe = () => run(process.execPath, ['-e', script.replace(admin, here)]);
    try {
      assert.equal((await probe()).code, 0);
      status = 503;
      assert.equal((await probe()).code, 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.equal((await probe()).code, 1, 'nothing listens any more');
  });
});

/** `Kind ns/name` of each object, sorted. */
const keys = (objs: Obj[]) =>
  objs.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();

const rendered = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj);

describe('deploy/: kubectl kustomize', () => {
  it('renders deploy/ and deploy/example/ to exactly the objects of their files', async (t) => {
    if (!(await haveKubectl())) return t.skip(KUBECTL_MISSING);
    for (const folder of ['deploy', 'deploy/example']) {
      const out = await run('kubectl', ['kustomize', join(ROOT, folder)]);
      assert.equal(out.code, 0, out.stderr);
      const own = resources.filter((o) => o.folder === folder).map((o) => o.obj);
      assert.deepEqual(keys(rendered(out.stdout)), keys(own), folder);
    }
  });

  it("an overlay's images: replaces the meshdns image in every container that runs it", async (t) => {
    if (!(await haveKubectl())) return t.skip(KUBECTL_MISSING);
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-overlay-'));
    try {
      // kustomize takes only relative paths to other kustomizations.
      const base = (folder: string) => relative(dir, join(ROOT, folder));
      await writeFile(
        join(dir, 'kustomization.yaml'),
        `resources: [${base('deploy')}, ${base('deploy/example')}]\n` +
          'images: [{ name: meshdns, newName: registry.example/meshdns, newTag: v1.2.3 }]\n',
      );
      const out = await run('kubectl', ['kustomize', dir]);
      assert.equal(out.code, 0, out.stderr);
      const images = podContainers(
        rendered(out.stdout).map((obj, doc) => ({ file: dir, folder: dir, doc, obj })),
      ).map((c) => c.container.image);
      assert.equal(images.filter((i) => i === 'registry.example/meshdns:v1.2.3').length, meshdns.length);
      assert.ok(!images.some((i) => i.startsWith('meshdns')), images.join(', '));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));

  it('runs as the numeric non-root user the controller pod declares, from /app/bin/meshdns', () => {
    const user = /^USER (\d+):(\d+)$/m.exec(runtime);
    assert.ok(user, 'a numeric USER uid:gid, so runAsNonRoot can check it');
    const pod = resources.find(
      (o) => o.obj.metadata.name === 'meshdns-controller' && o.obj.kind === 'Deployment',
    )!.obj.spec.template.spec.securityContext;
    assert.deepEqual([Number(user[1]), Number(user[2])], [pod.runAsUser, pod.runAsGroup]);
    assert.notEqual(pod.runAsUser, 0);
    assert.match(runtime, /^ENTRYPOINT \["\/app\/bin\/meshdns"\]$/m);
  });

  it('installs without running `prepare` (tsc), production dependencies only at runtime', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.match(pkg.scripts.prepare, /tsc/);
    const installs = text.match(/npm ci[^\n]*/g) ?? [];
    assert.equal(installs.length, 2);
    for (const line of installs) assert.match(line, /--ignore-scripts/);
    assert.match(runtime, /npm ci --omit=dev/);
  });

  it('copies what bin/meshdns and the xDS code load, and the tools the capture runs', () => {
    const bin = readFileSync(join(ROOT, 'bin/meshdns'), 'utf8');
    assert.match(bin, /'\.\.\/dist\/src\/cli\/main\.js'/);
    assert.match(bin, /'\.\.\/dist\/bundle\/main\.cjs'/);
    assert.match(bin, /'\.\.\/dist\/src\/cli\/run-bundle\.js'/);
    assert.match(text, /node scripts\/bundle\.mjs/);
    for (const copy of [
      'COPY --from=build /app/dist/src ./dist/src',
      'COPY --from=build /app/dist/bundle ./dist/bundle',
      'COPY bin ./bin',
      'COPY proto ./proto',
    ]) {
      assert.ok(runtime.includes(copy), copy);
    }
    assert.match(runtime, /apt-get install -y --no-install-recommends iptables iproute2/);
  });

  // The build context is what .dockerignore leaves: a COPY of an excluded path fails only at build time
  // (scripts/ was left out once; test/image/build-and-run.sh builds the image for real).
  it('copies only paths that .dockerignore sends in the build context', () => {
    const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => ({ keep: line.startsWith('!'), pattern: line.replace(/^!/, '').replace(/\/$/, '') }));
    // Docker's rule: the last pattern that matches a path decides (`*` matches every top-level entry).
    const sent = (path: string) =>
      rules.findLast((r) => r.pattern === '*' || path === r.pattern || path.startsWith(`${r.pattern}/`))
        ?.keep ?? true;
    const sources = [...text.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) =>
      m[1].split(/\s+/).slice(0, -1),
    );
    assert.ok(sources.length >= 5, sources.join(' '));
    for (const source of sources) assert.ok(sent(source), `COPY ${source}: excluded by .dockerignore`);
    for (const never of ['node_modules', 'dist', '.git', 'test']) assert.ok(!sent(never), never);
  });
});
