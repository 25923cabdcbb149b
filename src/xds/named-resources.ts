// One resource type of a publisher as named resources (delta xDS), with a bounded log of which names
// each commit changed: a delta stream that is a few commits behind learns what to send from the names
// changed since, in proportion to the change and not to the table. The state-of-the-world snapshot is
// the concatenation of the values (protobuf messages concatenate into their merge), made only when a
// state-of-the-world stream asks, once per commit.
import { DEFAULTS } from '../defaults.js';
import { DigestSum, versionDigest } from './digest-sum.js';
import type { XdsResource } from './types.js';

export interface XdsNamed {
  version: string;
  resource: XdsResource;
}

export interface XdsSnapshot {
  version: string;
  resources: readonly XdsResource[];
}

/** What a delta stream reads of one type. */
export interface XdsDeltaSource {
  /** Bumped by each commit that changed something; 0 before the first commit. */
  readonly sequence: number;
  /** The state-of-the-world version of the same content (DeltaDiscoveryResponse.system_version_info). */
  readonly version: string;
  readonly resources: ReadonlyMap<string, XdsNamed>;
  /** The names set or removed after `sequence`; undefined once that commit has left the log. */
  changedSince(sequence: number): Iterable<string> | undefined;
}

interface Commit {
  sequence: number;
  names: string[];
}

export class NamedResources implements XdsDeltaSource {
  sequence = 0;
  readonly resources = new Map<string, XdsNamed>();
  readonly #typeUrl: string;
  readonly #logLimit: number;
  readonly #log: Commit[] = [];
  readonly #pending = new Set<string>();
  readonly #sum = new DigestSum();
  /** A state-of-the-world publish: its resources and version stand as given. */
  #given: XdsSnapshot | undefined;
  #snapshot: { sequence: number; snapshot: XdsSnapshot } | undefined;
  /** The next commit counts even with no name changed (a type made, or replaced whole by one publish). */
  #force = false;

  constructor(typeUrl: string, logLimit: number = DEFAULTS.xdsChangeLogCommits) {
    this.#typeUrl = typeUrl;
    this.#logLimit = logLimit;
  }

  get version(): string {
    return this.#given?.version ?? this.#sum.hex;
  }

  /** Puts a resource; the same version again is a no-op. */
  set(name: string, resource: XdsResource, version: string): void {
    const old = this.resources.get(name);
    if (old?.version === version) return;
    if (old) this.#sum.toggle(versionDigest(old.version));
    this.#sum.toggle(versionDigest(version));
    this.resources.set(name, { version, resource });
    this.#pending.add(name);
    this.#given = undefined;
  }

  remove(name: string): void {
    const old = this.resources.get(name);
    if (!old) return;
    this.#sum.toggle(versionDigest(old.version));
    this.resources.delete(name);
    this.#pending.add(name);
    this.#given = undefined;
  }

  /** The next commit makes the type exist even when it holds nothing (an empty table is a table). */
  touch(): void {
    if (this.sequence === 0) this.#force = true;
  }

  /**
   * State-of-the-world publish: the resources replace the type's whole content, each named by its
   * position and versioned `version`, so a delta stream sends them again whenever the version changes.
   */
  replace(resources: readonly XdsResource[], version: string): void {
    const names = resources.map((_, i) => String(i));
    for (const name of [...this.resources.keys()]) if (!names.includes(name)) this.remove(name);
    resources.forEach((resource, i) => {
      this.set(names[i]!, resource, version);
    });
    this.#given = { version, resources };
    this.#force = true;
  }

  /** Ends a batch; true when it changed something (the sequence moved). */
  commit(): boolean {
    if (this.#pending.size === 0 && !this.#force) return false;
    this.#force = false;
    this.sequence++;
    this.#log.push({ sequence: this.sequence, names: [...this.#pending] });
    this.#pending.clear();
    if (this.#log.length > this.#logLimit) this.#log.shift();
    return true;
  }

  changedSince(sequence: number): Iterable<string> | undefined {
    if (sequence >= this.sequence) return [];
    const oldest = this.#log[0]?.sequence ?? this.sequence + 1;
    if (sequence + 1 < oldest) return undefined;
    const names = new Set<string>();
    // The log is in sequence order: read back from the newest to the first commit after `sequence`.
    for (let i = this.#log.length - 1; i >= 0 && this.#log[i]!.sequence > sequence; i--)
      for (const name of this.#log[i]!.names) names.add(name);
    return names;
  }

  /** The state-of-the-world view: one resource, the concatenation of every value; undefined before a commit. */
  snapshot(): XdsSnapshot | undefined {
    if (this.sequence === 0) return undefined;
    if (this.#given) return this.#given;
    if (this.#snapshot?.sequence !== this.sequence) {
      const value = Buffer.concat([...this.resources.values()].map((r) => r.resource.value));
      this.#snapshot = {
        sequence: this.sequence,
        snapshot: { version: this.#sum.hex, resources: [{ typeUrl: this.#typeUrl, value }] },
      };
    }
    return this.#snapshot.snapshot;
  }
}
