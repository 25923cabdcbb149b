// Errors carry a stable code and a message that says what is wrong and where (STYLE.md §5).

export type ErrorCode =
  | 'MESHDNS_MANIFEST_INVALID'
  | 'MESHDNS_MANIFEST_UNREADABLE'
  | 'MESHDNS_MANIFESTS_DIR'
  | 'MESHDNS_RESOLV_CONF'
  | 'MESHDNS_FLAG_INVALID'
  | 'MESHDNS_LISTEN'
  | 'MESHDNS_UDP_IO'
  | 'MESHDNS_UPSTREAM'
  | 'MESHDNS_CAPTURE'
  | 'MESHDNS_VIP_NAT'
  | 'MESHDNS_VIP_RELAY'
  | 'MESHDNS_MESH_CONFIG'
  | 'MESHDNS_WORKLOAD_NOT_FOUND'
  | 'MESHDNS_VIP_EXHAUSTED'
  | 'MESHDNS_VIP_CONFLICT'
  | 'MESHDNS_VIP_OUTSIDE_RANGE'
  | 'MESHDNS_ALLOCATION_STALE'
  | 'MESHDNS_STATE_INVALID'
  | 'MESHDNS_STATE_WRITE'
  | 'MESHDNS_STATE_VERSION'
  | 'MESHDNS_STATE_NOT_A_FILE'
  | 'MESHDNS_STATE_UNREADABLE'
  | 'MESHDNS_STATE_LOCKED'
  | 'MESHDNS_ADMIN_REMOTE'
  | 'MESHDNS_NO_ANSWER'
  | 'MESHDNS_XDS_INVALID'
  | 'MESHDNS_XDS_LISTEN'
  | 'MESHDNS_XDS_PROTO'
  | 'MESHDNS_KUBE_OPTIONS'
  | 'MESHDNS_KUBE_STATUS'
  | 'MESHDNS_KUBE_LEASE'
  | 'MESHDNS_KUBE_EVENT'
  | 'MESHDNS_KUBE_HOLDBACK'
  | 'MESHDNS_KUBE_CONFIG'
  | 'MESHDNS_KUBE_API';

export class MeshdnsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshdnsError';
    this.code = code;
  }
}
