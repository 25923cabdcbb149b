// Warning Events on a ServiceEntry for what the allocator could not do (range exhausted, a conflict), so
// `kubectl describe serviceentry` and `kubectl get events` show it beside the log line (issue 10 item 2).
//
// events.k8s.io/v1, not core v1: it is the Events API the Kubernetes controllers use today (client-go's
// tools/events), it has `series` to count repeats in one object, and it names the reporter
// (reportingController/reportingInstance); the API server stores both in one place, so core v1 readers
// (`kubectl describe`, `kubectl get events`) see these as well.
//
// Never in the allocator's way: record() only queues; one request at a time sends them; a full queue
// drops; failures are logged at debug (they repeat with the allocation, and the log line already said it).
import { CustomObjectsApi, EventsV1Api, type KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Allocation } from '../../allocate/index.js';
import { DEFAULTS } from '../../defaults.js';
import { MeshdnsError } from '../../errors.js';
import { allocationEvents } from './allocation-events.js';
import { failureText, httpCode, MERGE_PATCH, requestOptions } from './requests.js';
import { SERVICE_ENTRY_GROUP, SERVICE_ENTRY_PLURAL } from './status-writer.js';

export interface EventRecorderOptions {
  /** reportingInstance: this replica (the pod name); at most 128 characters. */
  instance: string;
  /** reportingController; DEFAULTS.kube.reportingController. */
  controller?: string;
  /** The ServiceEntry version served (as for StatusWriter). */
  version?: 'v1' | 'v1beta1';
  /** One Event per (object, reason, note) in this window; repeats after it bump the Event's series count. */
  dedupWindowMs?: number;
  maxEntries?: number;
  maxQueue?: number;
  requestTimeoutMs?: number;
  /** Wall clock in milliseconds (Date.now). */
  now?: () => number;
}

export interface EventObject {
  namespace: string;
  name: string;
}

/** What is known of one (object, reason, note): the Event created for it and how often it happened. */
interface Seen {
  eventName?: string;
  count: number;
  sentAt: number;
}

interface Job {
  key: string;
  object: EventObject;
  reason: string;
  note: string;
}

const NOTE_MAX = 1024; // events.k8s.io/v1 validation: note is at most 1 kB

export class EventRecorder {
  private readonly events: EventsV1Api;
  private readonly objects: CustomObjectsApi;
  private readonly s: Required<EventRecorderOptions>;
  private readonly seen = new Map<string, Seen>();
  private readonly queue: Job[] = [];
  private sending: Promise<void> | undefined;
  private closed = false;
  /** Keeps two Event names made in the same millisecond apart. */
  private seq = 0;
  readonly counts = { created: 0, updated: 0, deduplicated: 0, dropped: 0, failed: 0 };

  constructor(
    kc: KubeConfig,
    private readonly logger: Logger,
    options: EventRecorderOptions,
  ) {
    this.events = kc.makeApiClient(EventsV1Api);
    this.objects = kc.makeApiClient(CustomObjectsApi);
    const d = DEFAULTS.kube;
    this.s = {
      instance: options.instance,
      controller: options.controller ?? d.reportingController,
      version: options.version ?? 'v1',
      dedupWindowMs: options.dedupWindowMs ?? d.eventDedupWindowMs,
      maxEntries: options.maxEntries ?? d.eventCacheEntries,
      maxQueue: options.maxQueue ?? d.eventQueue,
      requestTimeoutMs: options.requestTimeoutMs ?? d.requestTimeoutMs,
      now: options.now ?? Date.now,
    };
    if (this.s.instance === '' || this.s.instance.length > 128) {
      throw new MeshdnsError(
        'MESHDNS_KUBE_OPTIONS',
        `EventRecorder option instance: "${this.s.instance}" must be 1 to 128 characters (the pod name)`,
      );
    }
  }

  /** A Warning Event on each ServiceEntry the allocation could not serve (exhausted range, conflicts). */
  reportAllocation(allocation: Pick<Allocation, 'errors'>): void {
    for (const e of allocationEvents(allocation)) this.warn(e, e.reason, e.note);
  }

  /** Queues a Warning Event on a ServiceEntry; repeats within the window are only counted. */
  warn(object: EventObject, reason: string, note: string): void {
    if (this.closed) return;
    const text = note.length > NOTE_MAX ? `${note.slice(0, NOTE_MAX - 1)}…` : note;
    const key = `${object.namespace}/${object.name}\n${reason}\n${text}`;
    const now = this.s.now();
    const known = this.seen.get(key);
    if (known) {
      known.count++;
      this.seen.delete(key); // most recently used last, so the oldest goes first when full
      this.seen.set(key, known);
      if (now - known.sentAt < this.s.dedupWindowMs) {
        this.counts.deduplicated++;
        return;
      }
      known.sentAt = now;
    } else {
      this.seen.set(key, { count: 1, sentAt: now });
      if (this.seen.size > this.s.maxEntries) this.seen.delete(this.seen.keys().next().value!);
    }
    if (this.queue.length >= this.s.maxQueue) {
      this.counts.dropped++;
      return;
    }
    this.queue.push({ key, object, reason, note: text });
    this.sending ??= this.drain();
  }

  /** Resolves once every queued Event was sent (or failed). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  /** Drops what is queued and waits for the request in flight. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await this.idle();
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      try {
        await this.send(job);
      } catch (err) {
        this.counts.failed++;
        const what = `Event ${job.reason} on ServiceEntry ${job.object.namespace}/${job.object.name}`;
        this.logger.debug({ code: httpCode(err) }, `${what} not recorded: ${failureText(err)}`);
      }
    }
    this.sending = undefined;
  }

  private async send(job: Job): Promise<void> {
    const known = this.seen.get(job.key);
    const count = known?.count ?? 1;
    const opts = requestOptions(this.s.requestTimeoutMs);
    const at = new V1MicroTime(this.s.now());
    if (known?.eventName) {
      try {
        await this.events.patchNamespacedEvent(
          {
            name: known.eventName,
            namespace: job.object.namespace,
            body: { series: { count, lastObservedTime: at } },
          },
          requestOptions(this.s.requestTimeoutMs, MERGE_PATCH),
        );
        this.counts.updated++;
        return;
      } catch (err) {
        if (httpCode(err) !== 404) throw err; // 404: the Event expired (the API keeps them 1 h); a new one
      }
    }
    const se = (await this.objects.getNamespacedCustomObject(
      {
        group: SERVICE_ENTRY_GROUP,
        version: this.s.version,
        namespace: job.object.namespace,
        plural: SERVICE_ENTRY_PLURAL,
        name: job.object.name,
      },
      opts,
    )) as { metadata?: { uid?: string; resourceVersion?: string } };
    // The name client-go gives Events: the object's name and a unique hex suffix from the time.
    const name = `${job.object.name}.${(BigInt(this.s.now()) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    await this.events.createNamespacedEvent(
      {
        namespace: job.object.namespace,
        body: {
          metadata: { name, namespace: job.object.namespace },
          eventTime: at,
          reportingController: this.s.controller,
          reportingInstance: this.s.instance,
          action: 'AllocateVIP',
          reason: job.reason,
          type: 'Warning',
          note: job.note,
          regarding: {
            apiVersion: `${SERVICE_ENTRY_GROUP}/${this.s.version}`,
            kind: 'ServiceEntry',
            namespace: job.object.namespace,
            name: job.object.name,
            ...(se.metadata?.uid ? { uid: se.metadata.uid } : {}),
            ...(se.metadata?.resourceVersion ? { resourceVersion: se.metadata.resourceVersion } : {}),
          },
        },
      },
      opts,
    );
    if (known) known.eventName = name;
    this.counts.created++;
  }
}
