export { Agent, type AgentOptions } from './agent.js';
export { ControllerLink, type ControllerLinkOptions } from './controller-link.js';
// Types only: they cost nothing at run time (the explain code is loaded on the first request).
export type { ExplainSource, Explanation } from './explain.js';
export {
  parseSnapshot,
  readSnapshot,
  SNAPSHOT_VERSION,
  type Snapshot,
  snapshotLines,
  writeSnapshot,
} from './snapshot.js';
export { SnapshotKeeper, type SnapshotKeeperOptions } from './snapshot-keeper.js';
