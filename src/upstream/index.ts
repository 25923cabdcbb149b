// Public surface of upstream/: resolv.conf, upstream addresses, and the forwarder.
export { FORWARDER_DEFAULTS, RESOLV_DEFAULTS } from './defaults.js';
export {
  cryptoRandom,
  Forwarder,
  type ForwarderOptions,
  type ForwarderStats,
  type ForwardOptions,
  type ServerStats,
} from './forwarder.js';
export {
  formatUpstream,
  parseResolvConf,
  parseUpstreamAddress,
  type ResolvConf,
  readResolvConf,
  type UpstreamServer,
} from './resolvconf.js';
