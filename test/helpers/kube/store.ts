// The test API server's storage: objects in memory under one global resourceVersion counter (etcd's
// revision), and the recent history of changes that watches replay. Compaction drops history, as etcd's
// does, so a watch from before it must get 410 Gone and relist.
import { randomBytes, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ResourceType } from './resources.js';
import { alreadyExists, conflict, expired, notFound } from './status.js';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One write, as a watch replays it: the object after (for DELETED: as last stored, at the new RV). */
export interface Change {
  rv: number;
  type: ChangeType;
  typeKey: string;
  object: KubeObject;
  /** The object before a MODIFIED, so a selector watch can turn it into ADDED or DELETED. */
  previous?: KubeObject;
}

export function typeKey(type: ResourceType): string {
  return `${type.group}/${type.plural}`;
}

const FIRST_RESOURCE_VERSION = 100;

export class ObjectStore {
  private counter = FIRST_RESOURCE_VERSION;
  /** History holds every change with rv > oldest. */
  private oldest = FIRST_RESOURCE_VERSION;
  private history: Change[] = [];
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly listeners = new Set<(change: Change) => void>();
  private readonly historyLimit: number;

  constructor(historyLimit: number) {
    this.historyLimit = historyLimit;
  }

  get resourceVersion(): number {
    return this.counter;
  }

  /** The oldest resourceVersion a watch may still start from. */
  get oldestResourceVersion(): number {
    return this.oldest;
  }

  list(type: ResourceType, namespace?: string): KubeObject[] {
    const all = [...(this.objects.get(typeKey(type))?.values() ?? [])];
    const inNs =
      namespace === undefined ? all : all.filter((o) => (o.metadata.namespace ?? '') === namespace);
    return inNs.map((o) => structuredClone(o));
  }

  get(type: ResourceType, namespace: string, name: string): KubeObject {
    const found = this.objects.get(typeKey(type))?.get(`${namespace}/${name}`);
    if (!found) throw notFound(type.group, type.plural, name);
    return structuredClone(found);
  }

  has(type: ResourceType, namespace: string, name: string): boolean {
    return this.objects.get(typeKey(type))?.has(`${namespace}/${name}`) ?? false;
  }

  create(type: ResourceType, input: KubeObject): KubeObject {
    const obj = structuredClone(input);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName)
      meta.name = meta.generateName + randomBytes(3).toString('hex').slice(0, 5);
    const ns = type.namespaced ? (meta.namespace ?? '') : '';
    if (this.has(type, ns, meta.name ?? '')) throw alreadyExists(type.group, type.plural, meta.name ?? '');
    if (type.namespaced) meta.namespace = ns;
    else delete meta.namespace;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.generation = 1;
    return this.write(type, 'ADDED', obj);
  }

  /**
   * Replaces a stored object. A resourceVersion on the input is a precondition (409 when stale); none means
   * an unconditional update. Identity fields stay the stored ones; generation counts changes outside
   * metadata and status, as the real server's does.
   */
  replace(type: ResourceType, input: KubeObject): KubeObject {
    const ns = type.namespaced ? (input.metadata.namespace ?? '') : '';
    const name = input.metadata.name ?? '';
    const old = this.get(type, ns, name);
    const sent = input.metadata.resourceVersion;
    if (sent !== undefined && sent !== '' && sent !== old.metadata.resourceVersion) {
      throw conflict(type.group, type.plural, name);
    }
    const obj = structuredClone(input);
    for (const field of ['uid', 'creationTimestamp', 'namespace'] as const)
      obj.metadata[field] = old.metadata[field];
    if (!type.namespaced) delete obj.metadata.namespace;
    const { metadata: _a, status: _b, apiVersion: _c, kind: _d, ...oldBody } = old;
    const { metadata: _e, status: _f, apiVersion: _g, kind: _h, ...newBody } = obj;
    const generation = old.metadata.generation ?? 1;
    obj.metadata.generation = isDeepStrictEqual(oldBody, newBody) ? generation : generation + 1;
    return this.write(type, 'MODIFIED', obj, old);
  }

  delete(type: ResourceType, namespace: string, name: string): KubeObject {
    const old = this.get(type, namespace, name);
    this.objects.get(typeKey(type))!.delete(`${namespace}/${name}`);
    return this.write(type, 'DELETED', old);
  }

  /** Forgets all history: a watch from any resourceVersion before now gets 410 Gone. */
  compact(): void {
    this.oldest = this.counter;
    this.history = [];
  }

  /** Changes after `rv`, oldest first; 410 when some of them are no longer retained. */
  changesSince(rv: number): Change[] {
    if (rv < this.oldest) throw expired(rv, this.oldest);
    return this.history.filter((c) => c.rv > rv);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private write(type: ResourceType, kind: ChangeType, obj: KubeObject, previous?: KubeObject): KubeObject {
    this.counter++;
    obj.metadata.resourceVersion = String(this.counter);
    const key = typeKey(type);
    if (kind !== 'DELETED') {
      const byName = this.objects.get(key) ?? new Map<string, KubeObject>();
      this.objects.set(key, byName);
      byName.set(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, structuredClone(obj));
    }
    const change: Change = { rv: this.counter, type: kind, typeKey: key, object: structuredClone(obj) };
    if (previous) change.previous = previous;
    this.history.push(change);
    // The retained window: past it, the oldest change goes and a watch from before it gets 410.
    while (this.history.length > this.historyLimit) this.oldest = this.history.shift()!.rv;
    for (const listener of this.listeners) listener(change);
    return obj;
  }
}
