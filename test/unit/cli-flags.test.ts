// Time flags at and past the bounds: the largest value a timer holds is accepted, one more is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TIMER_MS, parseMilliseconds, parseSeconds } from '../../src/cli/flags.js';
import { MeshdnsError } from '../../src/errors.js';

describe('parseMilliseconds and parseSeconds', () => {
  const cases: { parse: typeof parseMilliseconds; value: string; want: number | RegExp }[] = [
    { parse: parseMilliseconds, value: '5000', want: 5000 },
    { parse: parseMilliseconds, value: String(MAX_TIMER_MS), want: MAX_TIMER_MS },
    {
      parse: parseMilliseconds,
      value: String(MAX_TIMER_MS + 1),
      want: /--f "2147483648": at most 2147483647 ms/,
    },
    { parse: parseMilliseconds, value: '1e12', want: /at most 2147483647 ms/ },
    { parse: parseMilliseconds, value: '0', want: /expected a positive whole number/ },
    { parse: parseMilliseconds, value: '1.5', want: /expected a positive whole number/ },
    { parse: parseSeconds, value: '86400', want: 86400 },
    { parse: parseSeconds, value: '2147483648', want: /--f "2147483648": at most 2147483647 s/ },
  ];
  for (const c of cases) {
    it(`${c.parse.name} ${c.value}`, () => {
      if (typeof c.want === 'number') return assert.equal(c.parse('--f', c.value), c.want);
      assert.throws(
        () => c.parse('--f', c.value),
        (err: unknown) =>
          err instanceof MeshdnsError &&
          err.code === 'MESHDNS_FLAG_INVALID' &&
          c.want instanceof RegExp &&
          c.want.test(err.message),
      );
    });
  }
});
