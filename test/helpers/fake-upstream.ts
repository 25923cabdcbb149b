// An in-process upstream for unit tests of the cache: scripted replies per name, a call count,
// an optional gate that holds replies back (coalescing), and a fake clock for TTLs.
import dnsPacket from 'dns-packet';
import { type Query, scanMessage } from '../../src/dns/index.js';
import type { UpstreamClient } from '../../src/server/index.js';
import { classifyReply, type ForwardResult } from '../../src/upstream/index.js';

export type Script = (question: dnsPacket.Question) => Partial<dnsPacket.Packet> | 'fail';

export class FakeUpstream implements UpstreamClient {
  calls = 0;
  script: Script;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(script: Script) {
    this.script = script;
  }

  /** Holds every reply until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async forward(query: Buffer, _q: Query): Promise<ForwardResult> {
    this.calls++;
    const asked = dnsPacket.decode(query);
    if (this.gate) await this.gate;
    const reply = this.script(asked.questions![0]);
    if (reply === 'fail') return { kind: 'timeout', detail: 'scripted failure' };
    const msg = dnsPacket.encode({
      type: 'response',
      id: asked.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: asked.questions,
      ...reply,
    });
    const view = scanMessage(msg);
    return { kind: 'answered', reply: msg, view, replyClass: classifyReply(view), server: 'fake' };
  }

  plan(): string[] {
    return ['fake'];
  }

  async query(): Promise<ForwardResult> {
    return { kind: 'failed', detail: 'the fake upstream answers forward() only' };
  }
}

/** Milliseconds that move only when told, and timers that fire when the time passes theirs. */
export class FakeClock {
  ms = 1_000_000;
  private timers: { at: number; fn: () => void }[] = [];
  readonly now = (): number => this.ms;
  readonly schedule = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.ms + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  };
  advance(seconds: number): void {
    this.ms += seconds * 1000;
    const due = this.timers.filter((t) => t.at <= this.ms).sort((x, y) => x.at - y.at);
    this.timers = this.timers.filter((t) => t.at > this.ms);
    for (const t of due) t.fn();
  }
  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.length;
  }
}

export const a = (name: string, ttl: number, data = '192.0.2.1'): dnsPacket.Answer => ({
  name,
  type: 'A',
  ttl,
  data,
});

export const soa = (zone: string, ttl: number, minimum: number): dnsPacket.Answer => ({
  name: zone,
  type: 'SOA',
  ttl,
  data: {
    mname: `ns.${zone}`,
    rname: `admin.${zone}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum,
  },
});
