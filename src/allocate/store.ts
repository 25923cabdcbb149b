// The state file: where allocations live between runs when the manifests are files (in Kubernetes,
// each ServiceEntry's status.addresses is the store). Written whole, atomically: temp file, fsync,
// rename, so a crash leaves the old file or the new one, never half of one.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { MeshdnsError } from '../errors.js';
import { check, formatError, type ManifestIssue } from '../model/index.js';
import type { StoredAllocation } from './allocator.js';

const VERSION = 1;

const ipv4 = z.ipv4();
const ipv6 = z.ipv6();
const stateSchema = z.object({
  version: z.literal(VERSION),
  allocations: z.array(
    z.object({
      namespace: z.string().min(1),
      name: z.string().min(1),
      host: z.string().min(1),
      v4: ipv4.optional(),
      v6: ipv6.optional(),
    }),
  ),
});

function serialize(allocations: readonly StoredAllocation[]): string {
  return `${JSON.stringify({ version: VERSION, allocations }, null, 2)}\n`;
}

function describe(issues: ManifestIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join('; ');
}

/** Reads a state file. A missing file is an empty state; a bad one is an error and an empty state. */
export async function readAllocationState(
  file: string,
): Promise<{ allocations: StoredAllocation[]; error?: MeshdnsError }> {
  const rebuild = 'it is rebuilt from the manifests (addresses in status.addresses are kept)';
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { allocations: [] };
    const why = `${file}: cannot read the VIP state file (${(e as Error).message}); ${rebuild}`;
    return { allocations: [], error: new MeshdnsError('MESHDNS_STATE_INVALID', why, { cause: e }) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = `${file}: the VIP state file is not JSON (${(e as Error).message}); ${rebuild}`;
    return { allocations: [], error: new MeshdnsError('MESHDNS_STATE_INVALID', why) };
  }
  const { data, errors } = check(stateSchema, value);
  if (!data) {
    const why = `${file}: the VIP state file is invalid (${describe(errors)}); ${rebuild}`;
    return { allocations: [], error: new MeshdnsError('MESHDNS_STATE_INVALID', why) };
  }
  return { allocations: data.allocations };
}

let tempCounter = 0;

/** Writes the whole state: temp file beside the target, fsync, rename over it. */
export async function writeAllocationState(
  file: string,
  allocations: readonly StoredAllocation[],
): Promise<void> {
  const temp = `${file}.${process.pid}.${++tempCounter}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(serialize(allocations));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (e) {
    // Best effort: the temp file may not exist, or its folder may not be a folder at all.
    await rm(temp, { force: true }).catch(() => undefined);
    const why = `${file}: cannot write the VIP state file (${formatError(e as Error)}); allocations are kept in memory`;
    throw new MeshdnsError('MESHDNS_STATE_WRITE', why, { cause: e });
  }
}

/**
 * One state file for a running controller: loaded once, then written whenever the allocations
 * change, one write at a time, the latest state last.
 */
export class AllocationFile {
  /** What the file holds: undefined when there is none, '' when it is unusable. */
  #written: string | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  async load(): Promise<{ allocations: StoredAllocation[]; error?: MeshdnsError }> {
    const result = await readAllocationState(this.file);
    // A good file that says the same as the next state need not be rewritten; a bad one must be.
    const missing = !result.error && result.allocations.length === 0;
    this.#written = result.error ? '' : missing ? undefined : serialize(result.allocations);
    return result;
  }

  /** Queues a write when `allocations` differ from what is on disk; `onError` hears write failures. */
  save(allocations: readonly StoredAllocation[], onError: (e: MeshdnsError) => void): void {
    const text = serialize(allocations);
    // No file and nothing to keep: do not create one (a mesh without auto-allocated hosts).
    if (text === this.#written || (this.#written === undefined && allocations.length === 0)) return;
    this.#written = text;
    this.#queue = this.#queue
      .then(() => writeAllocationState(this.file, allocations))
      .catch((e: MeshdnsError) => {
        this.#written = '';
        onError(e);
      });
  }

  /** Resolves once every queued write is done. */
  flush(): Promise<void> {
    return this.#queue;
  }
}
