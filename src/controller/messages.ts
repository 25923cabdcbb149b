// The messages between the agent's thread and the controller's worker thread: plain data only
// (structured clone), the shape the xDS stream will carry between processes later.
import type { HostVips } from '../allocate/index.js';
import type { ErrorCode } from '../errors.js';
import type { MeshSettings, Setting } from '../model/index.js';
import type { TableDiff, TableScope } from '../nametable/index.js';
import type { VipRoute } from '../vip/index.js';
import type { ControllerOptions } from './controller.js';

/** What the worker is started with: the controller's options without its callbacks and logger. */
export type WorkerOptions = Omit<ControllerOptions, 'onView' | 'logger'> & { logLevel: string };

/** One new view, as the agent needs it. */
export interface ViewUpdate {
  type: 'view';
  diff: TableDiff;
  vips: Omit<HostVips, 'entry'>[];
  routes: VipRoute[];
  capture: Setting;
  autoAllocate: Setting;
  /** Invalid objects left out of the view. */
  errors: number;
}

export type ToAgent =
  | ViewUpdate
  /** Names of the next view's `diff.set`, sent ahead in parts. */
  | { type: 'view-part'; set: TableDiff['set'] }
  | { type: 'started' }
  | { type: 'failed'; code: ErrorCode | undefined; message: string }
  | { type: 'closed' };

export type ToController =
  | { type: 'reload'; update: { scope?: TableScope; meshConfig?: MeshSettings } }
  | { type: 'close' };
