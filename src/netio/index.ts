// The native batch socket (issue 12 item 1): recvmmsg/sendmmsg through a small N-API addon, with the
// reason it is unavailable where it could not be built; the VIP proxy's TCP relay (splice(2) in C); and
// a batch file reader for the manifests source (fsio.c).
// Depends on nothing of ours.
export { ADDON_PATH_ENV } from './addon.js';
export {
  BatchSocket,
  type BatchSocketOptions,
  type BatchSocketStats,
  batchSocketSupport,
  type Peer,
  RecvBatch,
} from './batch-socket.js';
export {
  FSIO_ADDON_PATH_ENV,
  FSIO_STATUS,
  type FsioAddonState,
  type FsioBinding,
  loadFsioAddon,
} from './fsio-addon.js';
export {
  loadRelayAddon,
  RELAY_ADDON_PATH_ENV,
  RELAY_EVENT,
  type RelayAddonState,
  type RelayBinding,
  type RelayHandle,
} from './relay-addon.js';
export { reusePortTcpSocket } from './tcp-socket.js';
export { type NativeTemplate, NativeTemplates, type NativeValidity } from './templates.js';
