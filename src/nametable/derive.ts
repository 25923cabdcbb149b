// The names a table answers without holding them: a Kubernetes host's short forms (SPEC §3.8) and
// every name's search-path shortcut (§3.9). They follow from the hosts by rule, so the table holds the
// hosts only and works these out when asked (CoreDNS does the same with its zone): a table of 10,000
// objects held 40,000 names, three quarters of them derived, each built, sent to the answering thread
// and kept there (issue 8). The builder and the answering table use these same rules, in name form
// (the builder's drafts and `meshdns table`'s listing) and in wire-key form (a question).
import { nameToKey, toFqdn } from '../dns/index.js';
import type { TableScope } from './build.js';

/** A wire key ends, after its last label, in this. */
const ROOT = '\x00';
/** "svc." as the last label of a key. */
const SVC_LABEL = '\x03svc\x00';

/** Whether `suffix` (a key ending in the root) starts at a label of `key`, not inside one. */
function endsAtLabel(key: string, suffix: string): boolean {
  const at = key.length - suffix.length;
  if (at < 0 || !key.endsWith(suffix)) return false;
  let i = 0;
  while (i < at) i += key.charCodeAt(i) + 1;
  return i === at;
}

export class Derivation {
  /** ".svc.cluster.local." */
  readonly #svcSuffix: string;
  /** Its key: "\x03svc\x07cluster\x05local\x00". */
  readonly #svcKey: string;
  /** The workload's namespace as one key label ("\x07default"). */
  readonly #nsLabel: string;
  readonly #namespace: string;
  readonly #aliases: boolean;
  /** The first search domain ("default.svc.cluster.local."), and its key. */
  readonly search: string | undefined;
  readonly #searchKey: string | undefined;

  constructor(scope: TableScope) {
    this.#svcSuffix = `.svc.${toFqdn(scope.clusterDomain)}`;
    this.#svcKey = nameToKey(this.#svcSuffix.slice(1));
    this.#namespace = scope.namespace;
    this.#nsLabel = String.fromCharCode(scope.namespace.length) + scope.namespace;
    this.#aliases = !scope.hostsOnly;
    this.search = scope.searchDomains[0] ? toFqdn(scope.searchDomains[0]) : undefined;
    this.#searchKey = this.search === undefined ? undefined : nameToKey(this.search);
  }

  /**
   * Istio's generateAltHosts: "name.ns.svc.cluster.local." is also "name.ns.svc.", "name.ns." and, in
   * the same namespace, "name.". Any host in the cluster domain has them (a ServiceEntry's too).
   */
  aliasesOf(host: string): string[] {
    if (!this.#aliases || !host.endsWith(this.#svcSuffix)) return [];
    const prefix = host.slice(0, -this.#svcSuffix.length);
    const out = [`${prefix}.svc.`, `${prefix}.`];
    const nsSuffix = `.${this.#namespace}`;
    if (prefix.endsWith(nsSuffix) && prefix.length > nsSuffix.length)
      out.push(`${prefix.slice(0, -nsSuffix.length)}.`);
    return out;
  }

  /** The hosts `name` would be an alias of (aliasesOf, backwards); the caller keeps those that exist. */
  aliasHostsOf(name: string): string[] {
    if (!this.#aliases || name === '.') return [];
    const stem = name.slice(0, -1);
    const out = [`${stem}${this.#svcSuffix}`, `${stem}.${this.#namespace}${this.#svcSuffix}`];
    if (name.endsWith('.svc.') && name.length > '.svc.'.length)
      out.push(`${name.slice(0, -'.svc.'.length)}${this.#svcSuffix}`);
    return out;
  }

  /** aliasHostsOf for a question's wire key. */
  aliasHostKeys(qkey: string): string[] {
    if (!this.#aliases || qkey === ROOT) return [];
    const stem = qkey.slice(0, -1);
    const out = [stem + this.#svcKey, stem + this.#nsLabel + this.#svcKey];
    if (qkey.length > SVC_LABEL.length && endsAtLabel(qkey, SVC_LABEL))
      out.push(qkey.slice(0, -SVC_LABEL.length) + this.#svcKey);
    return out;
  }

  /** The search-path shortcut of `name` ("h." → "h.<search>."), or undefined where it has none. */
  shortcutOf(name: string): string | undefined {
    if (this.search === undefined || name.endsWith(`.${this.search}`)) return undefined;
    return `${name}${this.search}`;
  }

  /**
   * "h.<search>." → the key of "h.", the name whose shortcut this may be; undefined when the question is
   * no such shortcut (another suffix, nothing before it, or a shortcut of a shortcut).
   */
  shortcutTarget(qkey: string): string | undefined {
    const search = this.#searchKey;
    if (search === undefined || qkey.length <= search.length || !endsAtLabel(qkey, search)) return undefined;
    const short = qkey.slice(0, -search.length) + ROOT;
    return short.length > search.length && endsAtLabel(short, search) ? undefined : short;
  }
}

/** Of several names, the first by name: where two hosts give one alias, it answers as the first. */
export function firstName(names: Iterable<string>): string | undefined {
  let first: string | undefined;
  for (const n of names) if (first === undefined || n < first) first = n;
  return first;
}
