// What the test API server was asked, and the failures a test has scheduled for it: the record tests
// count requests from (how many relists, rewatches, patches) and the queue of injected error Statuses.
import type { Verb } from './routes.js';
import { KubeStatusError, reasonFor } from './status.js';

export interface RequestRecord {
  verb: Verb;
  method: string;
  /** The URL path without the query. */
  path: string;
  query: string;
  /** Which TCP connection carried it (numbered from 1 as they were accepted): a client that keeps connections alive reuses numbers. */
  connection: number;
}

export interface InjectedFailure {
  /** The URL path (without query) to fail: exact string, or a RegExp tested against it. */
  path: string | RegExp;
  /** Only this verb (e.g. `watch`, `patch`); default any. */
  verb?: Verb;
  /** How many matching requests fail; default 1. */
  count?: number;
  /** HTTP code of the Status returned; default 500. */
  code?: number;
  message?: string;
}

export class RequestLog {
  /** Every request in arrival order. */
  readonly records: RequestRecord[] = [];
  private readonly failures: (InjectedFailure & { count: number; code: number })[] = [];

  add(record: RequestRecord): void {
    this.records.push(record);
  }

  count(filter: { verb?: Verb; path?: string }): number {
    return this.records.filter(
      (r) =>
        (filter.verb === undefined || r.verb === filter.verb) &&
        (filter.path === undefined || r.path === filter.path),
    ).length;
  }

  failNext(failure: InjectedFailure): void {
    this.failures.push({ ...failure, count: failure.count ?? 1, code: failure.code ?? 500 });
  }

  /** The scheduled failure for this request, if any (using up one of its count). */
  takeFailure(verb: Verb, path: string): KubeStatusError | undefined {
    const i = this.failures.findIndex(
      (f) =>
        (f.verb === undefined || f.verb === verb) &&
        (typeof f.path === 'string' ? f.path === path : f.path.test(path)),
    );
    if (i < 0) return undefined;
    const f = this.failures[i]!;
    if (--f.count <= 0) this.failures.splice(i, 1);
    return new KubeStatusError(
      f.code,
      reasonFor(f.code),
      f.message ?? `injected failure ${f.code} on ${verb} ${path}`,
    );
  }
}
