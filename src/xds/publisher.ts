// What the controller hands the server for one agent (or for every agent that shares a view): the
// latest resources per type, and a signal when they change. One publisher shared by many streams is how
// a change reaches only the agents whose view it touches.
import { createHash } from 'node:crypto';
import type { XdsResource } from './types.js';

export interface XdsSnapshot {
  version: string;
  resources: readonly XdsResource[];
}

export interface XdsSubscription {
  /** The latest snapshot of a type, or undefined while there is none yet (nothing is sent). */
  current(typeUrl: string): XdsSnapshot | undefined;
  /** Calls listener with the type URL after each new snapshot; returns the function that stops it. */
  watch(listener: (typeUrl: string) => void): () => void;
}

export class ResourcePublisher implements XdsSubscription {
  private readonly snapshots = new Map<string, XdsSnapshot>();
  private readonly listeners = new Set<(typeUrl: string) => void>();

  /**
   * Replaces the resources of a type. The version defaults to a digest of the bytes, so every controller
   * replica and restart names the same content the same way. Publishing what is already there is a no-op.
   */
  publish(typeUrl: string, resources: readonly XdsResource[], version = contentVersion(resources)): string {
    if (this.snapshots.get(typeUrl)?.version === version) return version;
    this.snapshots.set(typeUrl, { version, resources });
    for (const listener of this.listeners) listener(typeUrl);
    return version;
  }

  current(typeUrl: string): XdsSnapshot | undefined {
    return this.snapshots.get(typeUrl);
  }

  watch(listener: (typeUrl: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Streams watching now (for /debug and tests). */
  get watchers(): number {
    return this.listeners.size;
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
