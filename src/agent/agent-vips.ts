// The workload's VIPs and the VIP proxy's routes as the agent holds them: given by each view (fresh), or
// by a restart's snapshot until the first view's come (issue 14 item 3). Given as functions, the lists
// are made when first read (a data plane, /debug/vips), not on the answering thread's turn with every view:
// at 50,000 entries sorting and copying them stalled answers for tens of milliseconds.
import type { HostVips } from '../allocate/index.js';
import type { VipRoute } from '../vip/index.js';

/** A list, or the function that makes it when it is first read. */
export type Later<T> = T | (() => T);

export type WorkloadVips = readonly Omit<HostVips, 'entry'>[];

export class AgentVips {
  #vips: Later<WorkloadVips> = [];
  #routes: Later<VipRoute[]> = [];
  #fresh = false;
  #fromSnapshot = false;
  #routing: Promise<void> = Promise.resolve();

  /**
   * `apply`: the routes to the data plane, when one runs. Given as a function: without a data plane
   * nothing reads them (2,500 VIPs' routes made on every view held the answering thread for 15 ms).
   */
  constructor(private readonly apply: (routes: () => VipRoute[]) => Promise<void> | undefined) {}

  get vips(): WorkloadVips {
    if (typeof this.#vips === 'function') this.#vips = this.#vips();
    return this.#vips;
  }

  get routes(): VipRoute[] {
    if (typeof this.#routes === 'function') this.#routes = this.#routes();
    return this.#routes;
  }

  /** The VIPs and routes are a snapshot's, and no view has given any since. */
  get fromSnapshot(): boolean {
    return this.#fromSnapshot;
  }

  /** Settles once the last routes given are in the data plane (or failed to go in). */
  get routing(): Promise<void> {
    return this.#routing;
  }

  /** A view's VIPs and routes; resolves once the data plane has the routes. */
  set(vips: Later<WorkloadVips>, routes: Later<VipRoute[]>): Promise<void> {
    this.#fresh = true;
    this.#fromSnapshot = false;
    return this.#use(vips, routes);
  }

  /** A snapshot's, used until a view's come; refused (false) once they have. */
  setFromSnapshot(vips: WorkloadVips, routes: VipRoute[], onError: (err: Error) => void): boolean {
    if (this.#fresh) return false;
    this.#fromSnapshot = true;
    this.#use(vips, routes).catch(onError);
    return true;
  }

  #use(vips: Later<WorkloadVips>, routes: Later<VipRoute[]>): Promise<void> {
    this.#vips = vips;
    this.#routes = routes;
    const routing = this.apply(() => this.routes) ?? Promise.resolve();
    this.#routing = routing.catch(() => undefined);
    return routing;
  }
}
