// The controller's thread (`meshdns serve`): reading and parsing the folder, allocating VIPs and
// building the table all happen here, never on the thread that answers DNS (issue 8: a rebuild at
// 50,000 objects stalled answers for seconds). What it sends is a diff of the table, so the agent's
// thread only copies the few shards an edit touched.
import { parentPort, workerData } from 'node:worker_threads';
import { allocationKey } from '../allocate/index.js';
import { MeshdnsError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { VipRoute } from '../vip/index.js';
import { Controller } from './controller.js';
import type { ServedVips, ToAgent, ToController, WorkerOptions } from './messages.js';
import { KeyedMirror } from './mirror.js';
import { hostRoutes, workloadVips } from './routes.js';

const port = parentPort!;
const opts = workerData as WorkerOptions;
const logger = createLogger(opts.logLevel);
const send = (m: ToAgent) => port.postMessage(m);
/** Names per message (about 0.2 MB): the agent's thread decodes one message in a few milliseconds. */
const PART = 1000;

const sentVips = new KeyedMirror<ServedVips>();
const sentRoutes = new KeyedMirror<VipRoute[]>();

const controller = new Controller({
  ...opts,
  logger,
  onView: (view, errors, diff) => {
    const { capture, autoAllocate } = view.config;
    const vips = new Map<string, ServedVips>();
    const routes = new Map<string, VipRoute[]>();
    for (const h of workloadVips(view)) {
      const { entry: _entry, ...served } = h;
      const key = allocationKey(h.namespace, h.name, h.host);
      vips.set(key, served);
      routes.set(key, hostRoutes(h));
    }
    const vipsDiff = sentVips.diff(vips);
    const routesDiff = sentRoutes.diff(routes);
    // The receiving thread decodes each message in one go: many small messages keep each decode short.
    while (diff.set.length > PART) send({ type: 'view-part', set: diff.set.splice(0, PART) });
    while (vipsDiff.set.length > PART) send({ type: 'view-part', vips: vipsDiff.set.splice(0, PART) });
    while (routesDiff.set.length > PART) send({ type: 'view-part', routes: routesDiff.set.splice(0, PART) });
    send({
      type: 'view',
      diff,
      vips: vipsDiff,
      routes: routesDiff,
      capture,
      autoAllocate,
      errors: errors.length,
    });
  },
});

port.on('message', (m: ToController) => {
  if (m.type === 'reload') controller.reload(m.update);
  else if (m.type === 'close') {
    void controller.close().finally(() => {
      logger.flush();
      send({ type: 'closed' });
    });
  }
});

controller.start().then(
  () => send({ type: 'started' }),
  (err: unknown) => {
    const e = err instanceof MeshdnsError ? err : undefined;
    send({ type: 'failed', code: e?.code, message: err instanceof Error ? err.message : String(err) });
  },
);
