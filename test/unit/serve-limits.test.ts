// The `serve` flags of exposure and limits (SPEC §10), checked once at the edge: the values the agent
// gets, and a one-line error naming the flag and the value for each bad one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import {
  addServeExtraOptions,
  agentExtraOptions,
  type ServeExtraFlags,
} from '../../src/cli/serve-options.js';

function optionsFor(args: string[]) {
  const cmd = addServeExtraOptions(new Command().option('--dns-listen <addr:port>', '', '127.0.0.1:15053'));
  cmd.parse(args, { from: 'user' });
  return agentExtraOptions(cmd.opts<ServeExtraFlags>());
}

describe('serve limit flags', () => {
  it('defaults: loopback needs no allow list, the bounds from DEFAULTS', () => {
    const o = optionsFor([]);
    assert.equal(o.allowFrom, undefined);
    assert.deepEqual(o.tcp, {
      maxConnections: 1000,
      maxInFlightPerConnection: 64,
      maxQueuedBytes: 65536,
      idleTimeoutMs: 10_000,
    });
    assert.equal(o.upstreamMaxInFlight, 1024);
  });

  it('values given are passed on', () => {
    const o = optionsFor([
      '--dns-listen',
      '[::]:53',
      '--allow-from',
      '10.0.0.0/8',
      'fd00::/8',
      '--allow-from',
      '192.0.2.7',
      '--tcp-max-connections',
      '20',
      '--tcp-max-in-flight',
      '8',
      '--tcp-max-queued-bytes',
      '1024',
      '--tcp-idle-timeout',
      '2147483647',
      '--upstream-max-in-flight',
      '3',
    ]);
    assert.equal(o.allowFrom?.toString(), '10.0.0.0/8 fd00::/8 192.0.2.7/32');
    assert.deepEqual(o.tcp, {
      maxConnections: 20,
      maxInFlightPerConnection: 8,
      maxQueuedBytes: 1024,
      idleTimeoutMs: 2147483647,
    });
    assert.equal(o.upstreamMaxInFlight, 3);
  });

  const bad: { args: string[]; error: RegExp }[] = [
    {
      args: ['--dns-listen', '0.0.0.0:53'],
      error: /--dns-listen "0\.0\.0\.0:53": not a loopback.*--allow-from/,
    },
    { args: ['--dns-listen', '[::]:53'], error: /--dns-listen "\[::\]:53": not a loopback/ },
    {
      args: ['--allow-from', '10.0.0.0/33'],
      error: /--allow-from "10\.0\.0\.0\/33": prefix length "33" must be .* 0-32/,
    },
    {
      args: ['--allow-from', 'not-an-ip/8'],
      error: /--allow-from "not-an-ip\/8": "not-an-ip" is not an IP address/,
    },
    {
      args: ['--allow-from', '2001:db8::/129'],
      error: /--allow-from "2001:db8::\/129": prefix length "129"/,
    },
    { args: ['--allow-from', '10.0.0.1/x'], error: /--allow-from "10\.0\.0\.1\/x": prefix length "x"/ },
    {
      args: ['--tcp-max-connections', '0'],
      error: /--tcp-max-connections "0": expected a whole number from 1/,
    },
    { args: ['--tcp-max-connections', 'many'], error: /--tcp-max-connections "many"/ },
    { args: ['--tcp-max-in-flight', '-1'], error: /--tcp-max-in-flight "-1"/ },
    { args: ['--tcp-max-in-flight', '70000'], error: /--tcp-max-in-flight "70000": .* to 65535/ },
    { args: ['--tcp-idle-timeout', '1.5'], error: /--tcp-idle-timeout "1\.5"/ },
    {
      args: ['--tcp-idle-timeout', '3000000000'],
      error: /--tcp-idle-timeout "3000000000": .* to 2147483647/,
    },
    { args: ['--tcp-max-queued-bytes', '10'], error: /--tcp-max-queued-bytes "10": .* from 1024/ },
    { args: ['--upstream-max-in-flight', '0'], error: /--upstream-max-in-flight "0"/ },
    { args: ['--upstream-max-in-flight', '1e3'], error: /--upstream-max-in-flight "1e3"/ },
    {
      args: ['--metrics-eventloop-resolution', '0'],
      error: /--metrics-eventloop-resolution "0": expected a whole number from 1 to 1000/,
    },
    // Checked even where nothing is counted: a typo should not wait for the day metrics are turned on.
    {
      args: ['--no-metrics', '--metrics-eventloop-resolution', '2.5'],
      error: /--metrics-eventloop-resolution "2\.5"/,
    },
  ];
  for (const c of bad) {
    it(`${c.args.join(' ')} → ${c.error.source.split('"')[0]}… refused`, () => {
      assert.throws(
        () => optionsFor(c.args),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'MESHDNS_FLAG_INVALID');
          assert.match(err.message, c.error);
          return true;
        },
      );
    });
  }
});
