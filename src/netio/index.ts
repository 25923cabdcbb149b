// The native batch socket (issue 12 item 1): recvmmsg/sendmmsg through a small N-API addon, with the
// reason it is unavailable where it could not be built; and the VIP proxy's TCP relay (splice(2) in C).
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
  loadRelayAddon,
  RELAY_ADDON_PATH_ENV,
  RELAY_EVENT,
  type RelayAddonState,
  type RelayBinding,
  type RelayHandle,
} from './relay-addon.js';
export { reusePortTcpSocket } from './tcp-socket.js';
