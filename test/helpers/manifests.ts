// Manifest text for tests that write a folder and run the CLI on it, and the folder to write it in.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before } from 'node:test';
import { removeAtExit } from './temp-paths.js';

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

/**
 * A temporary folder made before the file's tests and removed once they and their hooks are done (a
 * `serve` stopped in an `after` hook writes its snapshot into it as it exits); call the result for its path.
 */
export function tempFolder(prefix: string): () => string {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    removeAtExit(dir);
  });
  return () => dir;
}
