// The manifests of deploy/ as the tests read them: every YAML document of every file, with where it
// came from, and the pod templates' containers with what kind of container each is.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './meshdns.js';

export const DEPLOY = join(ROOT, 'deploy');

// The manifests are ours and small; the shapes below are what the checks read, not the full API.
// biome-ignore lint/suspicious/noExplicitAny: a parsed manifest is checked field by field by the tests
export type Obj = Record<string, any>;

export interface DeployObject {
  /** Relative to the repository, e.g. `deploy/example/app.yaml`. */
  file: string;
  /** The folder of the file, relative to the repository. */
  folder: string;
  doc: number;
  obj: Obj;
}

/** `deploy/x.yaml doc 2 Deployment ns/name`, for messages. */
export function label(o: DeployObject): string {
  const m = o.obj.metadata ?? {};
  const name = m.namespace ? `${m.namespace}/${m.name}` : m.name;
  return `${o.file} doc ${o.doc + 1} ${o.obj.kind} ${name}`;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
    )
    .sort();
}

/** Every document of every YAML file under deploy/; a syntax error throws naming the file. */
export function loadDeploy(): DeployObject[] {
  const out: DeployObject[] = [];
  for (const path of yamlFiles(DEPLOY)) {
    const file = relative(ROOT, path);
    const folder = relative(ROOT, join(path, '..'));
    parseAllDocuments(readFileSync(path, 'utf8')).forEach((d, doc) => {
      if (d.errors.length > 0) throw new Error(`${file} doc ${doc + 1}: ${d.errors[0]!.message}`);
      const obj = d.toJS() as Obj | null;
      if (obj !== null) out.push({ file, folder, doc, obj });
    });
  }
  return out;
}

export interface PodContainer {
  owner: DeployObject;
  container: Obj;
  /** Runs to completion before the others (an init container that is not a sidecar). */
  init: boolean;
  /** Runs as long as the pod: an ordinary container or a native sidecar (restartPolicy Always). */
  longRunning: boolean;
  /** The pod's securityContext, for what the container inherits. */
  pod: Obj;
}

export function podContainers(objects: DeployObject[]): PodContainer[] {
  return objects
    .filter((o) => o.obj.kind === 'Deployment')
    .flatMap((owner) => {
      const spec = owner.obj.spec.template.spec;
      const pod = spec.securityContext ?? {};
      const inits = (spec.initContainers ?? []).map((container: Obj) => {
        const sidecar = container.restartPolicy === 'Always';
        return { owner, container, init: !sidecar, longRunning: sidecar, pod };
      });
      const mains = spec.containers.map((container: Obj) => ({
        owner,
        container,
        init: false,
        longRunning: true,
        pod,
      }));
      return [...inits, ...mains];
    });
}

/** Our image, whatever its tag: `meshdns:latest` until kustomize `images:` replaces it. */
export const isMeshdns = (c: PodContainer) => /^meshdns(:|$)/.test(c.container.image);

/** The value after `flag` in `args`, or undefined. */
export function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** The `--flags` of an argument list (`--name` of `--name=value` too). */
export function flagsOf(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
}

/** The port of `ADDR:PORT` (`[v6]:PORT` too). */
export function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}
