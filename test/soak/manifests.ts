// The soak's changing manifests: one file rewritten every 100 ms, alternately in place (truncate and
// write, as `>` in a shell does) and by rename (written beside, renamed over it, as editors save). Each
// write flips one ServiceEntry's address between two values and keeps a few VIP entries as they are.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const FLIP_HOST = 'flip.soak.test';
/** The two values the flipping entry alternates between: every answer must be one of them. */
export const FLIP_ADDRESSES = ['10.123.0.1', '10.123.0.2'] as const;
export const VIP_HOSTS = Array.from({ length: 5 }, (_, i) => `vip${i}.soak.test`);

function document(name: string, host: string, address: string | undefined): string {
  return [
    'apiVersion: networking.istio.io/v1',
    'kind: ServiceEntry',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    '  creationTimestamp: "2024-02-01T00:00:00Z"',
    'spec:',
    '  hosts:',
    `    - ${host}`,
    ...(address ? ['  addresses:', `    - ${address}`] : []),
    '  ports:',
    '    - number: 5432',
    '      name: tcp-pg',
    '      protocol: TCP',
    '  location: MESH_EXTERNAL',
    '  resolution: DNS',
  ].join('\n');
}

export function soakManifest(generation: number): string {
  const docs = [
    document('flip', FLIP_HOST, FLIP_ADDRESSES[generation % 2]),
    ...VIP_HOSTS.map((host, i) => document(`vip-${i}`, host, undefined)),
  ];
  return `# generation ${generation}\n${docs.join('\n---\n')}\n`;
}

export class ManifestRewriter {
  private timer: NodeJS.Timeout | undefined;
  generation = 0;
  readonly writes = { inPlace: 0, renamed: 0 };
  private readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'soak.yaml');
  }

  /** The first version, before meshdns starts. */
  writeInitial(): void {
    writeFileSync(this.file, soakManifest(0));
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.rewrite(), intervalMs);
  }

  private rewrite(): void {
    this.generation++;
    const text = soakManifest(this.generation);
    if (this.generation % 2 === 0) {
      writeFileSync(this.file, text);
      this.writes.inPlace++;
    } else {
      // Not *.yaml: the watcher never reads the half-written file beside the real one.
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, this.file);
      this.writes.renamed++;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
