// Manifest text for tests that write a folder and run the CLI on it, and the folder to write it in.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

/** A ServiceEntry without addresses (so it gets VIPs), created on 2024-01-<day>: smaller is older. */
export function serviceEntryYaml(name: string, day: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default, creationTimestamp: "2024-01-${String(day).padStart(2, '0')}T00:00:00Z"}
spec:
  hosts: [${name}.example.com]
  ports: [{number: 3306, name: tcp, protocol: TCP}]
  resolution: DNS
`;
}

/** A temporary folder made before the file's tests and removed after them; call the result for its path. */
export function tempFolder(prefix: string): () => string {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  return () => dir;
}
