// Generated data for the cache scenarios: upstream names, query files with a chosen share of
// repeats, a folder of Service manifests, all from a seeded random so every run sees the same.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** mulberry32: small, fast, good enough to shuffle benchmark input reproducibly. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates with the given random. */
export function shuffle<T>(list: T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** 198.18.0.0/15 is set aside for benchmarks (RFC 2544). */
export const benchAddress = (i: number) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;

export interface UpstreamNames {
  names: string[];
  hostsFile: string;
}

/** `count` names `hN.<zone>` in a hosts file ("IP NAME" lines). */
export async function writeUpstreamHosts(
  dir: string,
  zone: string,
  count: number,
  file = 'hosts',
): Promise<UpstreamNames> {
  const names = Array.from({ length: count }, (_, i) => `h${i}.${zone}`);
  const hostsFile = path.join(dir, file);
  await writeFile(hostsFile, names.map((n, i) => `${benchAddress(i)} ${n}\n`).join(''), { mode: 0o644 });
  return { names, hostsFile };
}

/**
 * A query stream in which each name first appears once (a miss for a cold cache) and the rest are
 * repeats of names already asked: `repeatShare` of all queries are repeats. First appearances are
 * spread through the stream; repeats pick uniformly among the names asked so far.
 */
export function repeatStream(names: string[], repeatShare: number, seed: number): string[] {
  const random = seeded(seed);
  const total = Math.round(names.length / (1 - repeatShare));
  const out: string[] = [];
  let next = 0;
  for (let i = 0; i < total; i++) {
    const newOnesLeft = names.length - next;
    const slotsLeft = total - i;
    const takeNew = next === 0 || random() < newOnesLeft / slotsLeft;
    out.push(takeNew && next < names.length ? names[next++] : names[Math.floor(random() * next)]);
  }
  return out;
}

export async function writeQueryFile(file: string, names: string[], type = 'A'): Promise<string> {
  await writeFile(file, names.map((n) => `${n} ${type}\n`).join(''));
  return file;
}

export interface ServiceSpec {
  name: string;
  namespace: string;
  clusterIP: string;
}

export const serviceFqdn = (s: ServiceSpec) => `${s.name}.${s.namespace}.svc.cluster.local`;

/** One YAML file of ClusterIP Services. */
export async function writeServices(dir: string, services: ServiceSpec[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const docs = services.map((s) =>
    [
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      `  name: ${s.name}`,
      `  namespace: ${s.namespace}`,
      'spec:',
      `  clusterIP: ${s.clusterIP}`,
      '  ports:',
      '    - port: 80',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(dir, 'services.yaml'), docs.join('---\n'));
  return dir;
}
