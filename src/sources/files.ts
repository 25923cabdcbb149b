// Per-file state of a manifests folder, without any I/O: what each file last contributed, so a
// broken edit degrades to "keep the last good version" instead of dropping names from the table.
import { hash as digest } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { MeshdnsError } from '../errors.js';
import {
  collectResources,
  emptyResources,
  type ManifestObject,
  parseManifest,
  type Resource,
  type Resources,
  type SourceRef,
  toResources,
} from '../model/index.js';
import { BUILD_SLICE } from './tuning.js';

interface FileState {
  /**
   * SHA-256 of the text last parsed, so a touch without a change is not a change: its 32 bytes as a
   * latin1 ('binary') string: 48 bytes of heap, 80 as hex, and 50,000 files keep one each.
   */
  hash?: string;
  /** Objects with a resource: this parse's valid ones and last good versions of invalid ones. */
  objects: ManifestObject[];
  errors: MeshdnsError[];
  /** The content could not be used as a whole: unreadable, too big, a YAML/JSON syntax error. */
  broken: boolean;
  /** Still being written when last read: the last good state stands in until it settles. */
  changing?: boolean;
}

/** The objects (by identity) that left and came between two builds. */
export interface BuildDelta {
  /** The `seq` of the build this one follows. */
  base: number;
  removed: Resource[];
  added: Resource[];
}

export interface Build {
  /** Counts builds: a delta applies only to a copy of build `delta.base`. */
  seq: number;
  /**
   * What changed since the previous build, found from the files that changed (an edit costs what it
   * touched, not the whole folder); absent when duplicates could move which copy wins.
   */
  delta?: BuildDelta;
  resources: Resources;
  errors: MeshdnsError[];
  /**
   * Sorted: files whose current content could not be read or parsed, whether or not their last good
   * objects stand in for them. A snapshot that lacks an object of one of these did not load cleanly.
   */
  failedFiles: string[];
}

/** Whether `now` says exactly what `old` said, from the same place in the file (its source included). */
function unchanged(old: ManifestObject | undefined, now: ManifestObject): boolean {
  return (
    old?.resource !== undefined &&
    old.errors.length === 0 &&
    now.errors.length === 0 &&
    isDeepStrictEqual(old.resource, now.resource)
  );
}

const hasResource = (o: ManifestObject) => o.resource !== undefined;

/** A file without errors (nearly all of them) holds this one frozen empty list: 32 bytes less a file. */
const NONE = Object.freeze([]) as unknown as MeshdnsError[];

export class ManifestFiles {
  readonly #files = new Map<string, FileState>();
  /** The paths in order, kept until a file comes or goes (sorting 50,000 paths is not free). */
  #sorted?: string[];
  #build?: Build;
  #seq = 0;
  /** Files changed since the last build, with the objects they had then. */
  readonly #before = new Map<string, ManifestObject[]>();
  /** How many objects claim each kind/namespace/name, and how many of those are claimed twice. */
  readonly #claims = new Map<string, number>();
  #contested = 0;
  /** A key was claimed twice at some point since the last build: a delta could miss a switch of winner. */
  #wasContested = false;

  /** Parses `text` as the new content of `file`; returns the objects skipped as not ours. */
  setText(file: string, text: string): { changed: boolean; ignored: string[] } {
    // One call, no Hash object: half the time of createHash for a file of one object.
    const hash = digest('sha256', text, 'binary');
    const prev = this.#files.get(file);
    if (prev?.hash === hash) {
      if (!prev.changing) return { changed: false, ignored: [] };
      // Rewritten with the same text: it has settled, and is no longer a failed file.
      this.#set(file, { ...prev, changing: false }, prev);
      return { changed: true, ignored: [] };
    }
    const parsed = parseManifest(file, text);
    const objectErrors = parsed.objects.some((o) => o.errors.length > 0)
      ? parsed.objects.flatMap((o) => o.errors)
      : NONE;
    let objects: ManifestObject[];
    if (parsed.syntaxErrors.length > 0 && prev) {
      // Half-typed YAML says nothing reliable about the file: keep all it had.
      objects = prev.objects;
    } else if (prev === undefined) {
      // A new file (every file at start): nothing to keep from before, only its valid objects to take.
      // A copy at its size: the list parsing grew by pushes keeps room for 16 more (see below).
      objects = parsed.objects.every(hasResource)
        ? parsed.objects.slice()
        : parsed.objects.filter(hasResource);
    } else {
      const before = new Map(prev.objects.flatMap((o) => (o.key ? [[o.key, o] as const] : [])));
      // An invalid edit of a known object keeps its last good version; a new invalid object stays out.
      // An object the edit left as it was stays the same object: the change is then the objects that
      // changed, not every object of the file (issue 8: an edit of one of a file's 500 objects had the
      // table, the allocator and the agent redo all 500, and left them as garbage).
      // By map, not flatMap: an array grown by pushes keeps room for 16 more, 136 bytes a file
      // (50,000 files of one object: 7 MB of the heap).
      const all = parsed.objects.map((o) => {
        const old = o.key ? before.get(o.key) : undefined;
        return o.resource ? (unchanged(old, o) ? old! : o) : old;
      });
      objects = all.includes(undefined) ? all.filter((o) => o !== undefined) : (all as ManifestObject[]);
    }
    const errors =
      parsed.syntaxErrors.length + objectErrors.length > 0 ? [...parsed.syntaxErrors, ...objectErrors] : NONE;
    this.#set(file, { hash, objects, errors, broken: parsed.syntaxErrors.length > 0 }, prev);
    return { changed: true, ignored: parsed.ignored };
  }

  /** The file changed while it was read: keep what it had (nothing, if new) until it settles. */
  setChanging(file: string): boolean {
    const prev = this.#files.get(file);
    if (prev?.changing) return false;
    this.#set(file, { ...(prev ?? { objects: [], errors: [], broken: false }), changing: true }, prev);
    return true;
  }

  /** The file exists but cannot be used (unreadable, too big): keep its objects, report why. */
  setUnusable(file: string, error: MeshdnsError): boolean {
    const prev = this.#files.get(file);
    const same = prev && prev.hash === undefined && prev.errors[0]?.message === error.message;
    if (same) return false;
    this.#set(file, { objects: prev?.objects ?? [], errors: [error], broken: true }, prev);
    return true;
  }

  delete(file: string): boolean {
    this.#build = undefined;
    this.#sorted = undefined;
    const prev = this.#files.get(file);
    if (!prev) return false;
    this.#remember(file, prev.objects, []);
    return this.#files.delete(file);
  }

  /** How many files it holds. */
  get size(): number {
    return this.#files.size;
  }

  files(): string[] {
    return [...this.#files.keys()];
  }

  has(file: string): boolean {
    return this.#files.has(file);
  }

  /** Whether the file's last good state gives any object. */
  hasObjects(file: string): boolean {
    return (this.#files.get(file)?.objects.length ?? 0) > 0;
  }

  /** Everything, in file path order then document order; duplicates across files are reported. */
  build(): Build {
    if (this.#build) return this.#build;
    const steps = this.#assemble();
    let step = steps.next();
    while (!step.done) step = steps.next();
    return step.value;
  }

  /** `build()` in slices, awaiting `pace` between them (50,000 objects take ~100 ms in one go). */
  async buildPaced(pace: () => Promise<void>): Promise<Build> {
    if (this.#build) return this.#build;
    const steps = this.#assemble();
    let step = steps.next();
    while (!step.done) {
      await pace();
      step = steps.next();
    }
    return step.value;
  }

  // Yields every BUILD_SLICE objects or files; nothing else changes the files meanwhile (one pass at a time).
  *#assemble(): Generator<void, Build> {
    this.#sorted ??= [...this.#files.keys()].sort();
    const paths = this.#sorted;
    const objects: ManifestObject[] = [];
    const fileErrors: MeshdnsError[] = [];
    const failedFiles: string[] = [];
    for (const [i, path] of paths.entries()) {
      if (i % BUILD_SLICE === 0) yield;
      const state = this.#files.get(path)!;
      for (const o of state.objects) objects.push(o);
      for (const e of state.errors) fileErrors.push(e);
      if (state.broken || state.changing) failedFiles.push(path);
    }
    if (this.#contested === 0) {
      // No kind/namespace/name is claimed twice (the usual case): nothing to drop, so no map of keys.
      const resources: Resource[] = [];
      for (const o of objects) if (o.resource) resources.push(o.resource);
      return this.#finish(toResources(resources), [...fileErrors], failedFiles);
    }
    const all = emptyResources();
    const duplicates: MeshdnsError[] = [];
    const seen = new Map<string, SourceRef>();
    for (let i = 0; i < objects.length; i += BUILD_SLICE) {
      yield;
      const { resources, errors } = collectResources(objects.slice(i, i + BUILD_SLICE), seen);
      const some = toResources(resources);
      for (const kind of Object.keys(all) as (keyof Resources)[]) {
        for (const r of some[kind]) (all[kind] as Resource[]).push(r);
      }
      for (const e of errors) duplicates.push(e);
    }
    return this.#finish(all, [...fileErrors, ...duplicates], failedFiles);
  }

  #finish(resources: Resources, errors: MeshdnsError[], failedFiles: string[]): Build {
    const delta = this.#delta();
    this.#seq++;
    this.#build = { seq: this.#seq, ...(delta ? { delta } : {}), resources, errors, failedFiles };
    return this.#build;
  }

  /** `prev`: the file's state now (each caller has looked it up already: one lookup a file less). */
  #set(file: string, state: FileState, prev: FileState | undefined): void {
    this.#remember(file, prev?.objects ?? [], state.objects);
    this.#build = undefined;
    if (prev === undefined) this.#sorted = undefined;
    this.#files.set(file, state);
  }

  #remember(file: string, before: ManifestObject[], after: ManifestObject[]): void {
    // Before the first build there is nothing for a delta to follow (#delta): no file is noted.
    if (this.#seq > 0 && !this.#before.has(file)) this.#before.set(file, before);
    for (const o of before) if (o.resource && o.key) this.#claim(o.key, -1);
    for (const o of after) if (o.resource && o.key) this.#claim(o.key, 1);
    if (this.#contested > 0) this.#wasContested = true;
  }

  #claim(key: string, by: number): void {
    const was = this.#claims.get(key) ?? 0;
    const now = was + by;
    if (now === 0) this.#claims.delete(key);
    else this.#claims.set(key, now);
    if (was <= 1 && now > 1) this.#contested++;
    if (was > 1 && now <= 1) this.#contested--;
  }

  /**
   * The change since the last build, from the files that changed; undefined for the first build (a
   * consumer has taken nothing it could follow: 50,000 files of one object were noted one by one for
   * a delta that said "everything") and when duplicates were about.
   */
  #delta(): BuildDelta | undefined {
    const clean = this.#seq > 0 && !this.#wasContested && this.#contested === 0;
    const delta: BuildDelta = { base: this.#seq, removed: [], added: [] };
    if (clean) {
      for (const [file, before] of this.#before) {
        const now = this.#files.get(file)?.objects ?? [];
        if (before.length === 0) {
          // A new file since the last build: all it has came, no sets needed.
          for (const o of now) if (o.resource) delta.added.push(o.resource);
          continue;
        }
        const kept = new Set(now);
        const old = new Set(before);
        for (const o of before) if (o.resource && !kept.has(o)) delta.removed.push(o.resource);
        for (const o of now) if (o.resource && !old.has(o)) delta.added.push(o.resource);
      }
    }
    this.#before.clear();
    this.#wasContested = this.#contested > 0;
    return clean ? delta : undefined;
  }
}
