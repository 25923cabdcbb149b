// `--metrics-eventloop-resolution`: the tick of the monitor behind nodejs_eventloop_lag_*. Its own file
// (so its own process): prom-client starts that monitor once per process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { Registry } from 'prom-client';
import {
  addServeExtraOptions,
  agentExtraOptions,
  type ServeExtraFlags,
} from '../../src/cli/serve-options.js';

async function gauge(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric as { values?: { value: number }[] } | undefined)?.values?.[0]?.value;
  assert.ok(value !== undefined, `${name} is in the registry`);
  return value;
}

describe('serve --metrics-eventloop-resolution', () => {
  it('ticks the event-loop monitor at the given resolution', async () => {
    const cmd = addServeExtraOptions(new Command().option('--dns-listen <addr:port>', '', '127.0.0.1:15053'));
    cmd.parse(['--metrics-eventloop-resolution', '1'], { from: 'user' });
    const made = agentExtraOptions(cmd.opts<ServeExtraFlags>()).registry;
    assert.equal(typeof made, 'function', 'the registry is made once the agent listens');
    const registry = await (made as () => Promise<Registry>)();
    await sleep(200);
    // Samples are the times between ticks: at the default of 10 ms none is shorter than 10 ms.
    const min = await gauge(registry, 'nodejs_eventloop_lag_min_seconds');
    assert.ok(min > 0 && min < 0.005, `shortest sample ${min * 1000} ms: ticks every millisecond`);
    // A stall shows as at least as long as it was. (Not right after a scrape: the reset there leaves
    // the next sample unrecorded.)
    await sleep(20);
    const until = performance.now() + 40;
    while (performance.now() < until);
    await sleep(20);
    const max = await gauge(registry, 'nodejs_eventloop_lag_max_seconds');
    assert.ok(max >= 0.04, `longest sample ${max * 1000} ms after a 40 ms stall`);
  });
});
