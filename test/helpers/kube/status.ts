// The `Status` object the Kubernetes API returns for every failure (meta/v1 Status): HTTP code, a
// machine-readable `reason` and a message worded as the real server words it, so clients branch the same way.

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Expired'
  | 'Gone'
  | 'Unauthorized'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'TooManyRequests';

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: { name?: string; group?: string; kind?: string };
  code: number;
}

/** A request the server refuses: carries the Status body and its HTTP code. */
export class KubeStatusError extends Error {
  readonly status: Status;
  constructor(code: number, reason: StatusReason, message: string, details?: Status['details']) {
    super(message);
    this.name = 'KubeStatusError';
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
    };
    if (details !== undefined) this.status.details = details;
  }
}

/** What a resource is called in messages: `serviceentries.networking.istio.io`, or `leases` in core. */
export function qualifiedName(group: string, plural: string): string {
  return group === '' ? plural : `${plural}.${group}`;
}

export function notFound(group: string, plural: string, name: string): KubeStatusError {
  return new KubeStatusError(404, 'NotFound', `${qualifiedName(group, plural)} "${name}" not found`, {
    name,
    group,
    kind: plural,
  });
}

export function alreadyExists(group: string, plural: string, name: string): KubeStatusError {
  return new KubeStatusError(
    409,
    'AlreadyExists',
    `${qualifiedName(group, plural)} "${name}" already exists`,
    {
      name,
      group,
      kind: plural,
    },
  );
}

/** The optimistic-concurrency failure: the resourceVersion sent is not the stored one. */
export function conflict(group: string, plural: string, name: string): KubeStatusError {
  return new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedName(group, plural)} "${name}": the object has been modified; ` +
      'please apply your changes to the latest version and try again',
    { name, group, kind: plural },
  );
}

/** A watch or list from a resourceVersion older than the retained history (etcd compaction). */
export function expired(requested: number, oldest: number): KubeStatusError {
  return new KubeStatusError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError(400, 'BadRequest', message);
}

/** The real server answers a JSON patch that parses but cannot be applied (a failed `test`) with 422. */
export function invalid(message: string): KubeStatusError {
  return new KubeStatusError(422, 'Invalid', message);
}

/** The reason the real server pairs with an HTTP code, for errors a test injects by code alone. */
export function reasonFor(code: number): StatusReason {
  const reasons: Record<number, StatusReason> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    503: 'ServiceUnavailable',
  };
  return reasons[code] ?? 'InternalError';
}
