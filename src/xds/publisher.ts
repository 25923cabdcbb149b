// What the controller hands the server for one agent (or for every agent that shares a view): per type,
// named resources with versions, changed in batches (set and remove many, then one commit that signals
// the watchers once). Delta streams send the names a commit changed; state-of-the-world streams the
// whole type, concatenated on demand. One publisher shared by many streams is how a change reaches only
// the agents whose view it touches.
import { createHash } from 'node:crypto';
import { NamedResources, type XdsDeltaSource, type XdsSnapshot } from './named-resources.js';
import type { XdsResource } from './types.js';

export type { XdsDeltaSource, XdsNamed, XdsSnapshot } from './named-resources.js';

export interface XdsSubscription {
  /** The latest state-of-the-world snapshot of a type, or undefined while there is none (nothing is sent). */
  current(typeUrl: string): XdsSnapshot | undefined;
  /** The named resources of a type for delta streams, or undefined while there are none. */
  named(typeUrl: string): XdsDeltaSource | undefined;
  /** Calls listener with the type URL after each commit that changed it; returns the function that stops it. */
  watch(listener: (typeUrl: string) => void): () => void;
}

export class ResourcePublisher implements XdsSubscription {
  private readonly types = new Map<string, NamedResources>();
  private readonly listeners = new Set<(typeUrl: string) => void>();

  /** `changeLogCommits`: commits whose changed names are kept per type (default DEFAULTS.xdsChangeLogCommits). */
  constructor(private readonly options: { changeLogCommits?: number } = {}) {}

  /** Puts one named resource; seen by streams at the next commit(). */
  set(typeUrl: string, name: string, resource: XdsResource, version: string): void {
    this.type(typeUrl).set(name, resource, version);
  }

  remove(typeUrl: string, name: string): void {
    this.types.get(typeUrl)?.remove(name);
  }

  /** Makes a type exist at the next commit even if it holds nothing (an agent waits for its first table). */
  touch(typeUrl: string): void {
    this.type(typeUrl).touch();
  }

  /** Ends a batch: each type it changed moves to a new sequence, and the watchers hear of it once. */
  commit(): string[] {
    const changed = [...this.types].filter(([, t]) => t.commit()).map(([url]) => url);
    for (const typeUrl of changed) for (const listener of this.listeners) listener(typeUrl);
    return changed;
  }

  /**
   * State-of-the-world publish: replaces the resources of a type whole and commits. The version defaults
   * to a digest of the bytes, so every controller replica and restart names the same content the same
   * way. Publishing what is already there is a no-op.
   */
  publish(typeUrl: string, resources: readonly XdsResource[], version = contentVersion(resources)): string {
    const type = this.type(typeUrl);
    if (type.sequence > 0 && type.version === version) return version;
    type.replace(resources, version);
    if (type.commit()) for (const listener of this.listeners) listener(typeUrl);
    return version;
  }

  current(typeUrl: string): XdsSnapshot | undefined {
    return this.types.get(typeUrl)?.snapshot();
  }

  named(typeUrl: string): XdsDeltaSource | undefined {
    const type = this.types.get(typeUrl);
    return type && type.sequence > 0 ? type : undefined;
  }

  watch(listener: (typeUrl: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Streams watching now (for /debug and tests). */
  get watchers(): number {
    return this.listeners.size;
  }

  private type(typeUrl: string): NamedResources {
    let type = this.types.get(typeUrl);
    if (!type) {
      type = new NamedResources(typeUrl, this.options.changeLogCommits);
      this.types.set(typeUrl, type);
    }
    return type;
  }
}

/** 16 hex digits of SHA-256 over type URLs and bytes: a collision would take 2^32 versions. */
export function contentVersion(resources: readonly XdsResource[]): string {
  const hash = createHash('sha256');
  for (const r of resources) {
    hash.update(r.typeUrl);
    hash.update('\0');
    hash.update(String(r.value.length));
    hash.update('\0');
    hash.update(r.value);
  }
  return hash.digest('hex').slice(0, 16);
}
