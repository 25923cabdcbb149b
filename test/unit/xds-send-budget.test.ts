// The server's budget of large responses in flight (send-budget.ts), alone: who goes, who waits, who is
// woken.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendBudget } from '../../src/xds/send-budget.js';

const MB = 1024 * 1024;

describe('SendBudget', () => {
  it('lets large sends in up to the budget, wakes the waiters in order, and never holds a small one', () => {
    const budget = new SendBudget({ bytes: 8 * MB, largeBytes: MB, staleMs: 600_000 });
    const a = budget.take(4 * MB)!;
    const b = budget.take(4 * MB)!;
    assert.ok(a && b);
    assert.equal(budget.take(4 * MB), undefined, 'past the budget');
    assert.ok(budget.take(MB - 1), 'a small send never waits');
    assert.ok(budget.take(4 * MB, true), 'a forced send is counted, never refused');
    assert.equal(budget.inFlight, 12 * MB);
    const woken: string[] = [];
    budget.wait(() => woken.push('c'));
    const cancel = budget.wait(() => woken.push('d'));
    budget.wait(() => woken.push('e'));
    cancel();
    a.release();
    a.release(); // twice is once
    assert.deepEqual(woken, ['c', 'e']);
    assert.equal(budget.waiting, 0, 'each waiter is called once, and waits again if it still finds no room');
    assert.equal(budget.inFlight, 8 * MB);
  });

  it('a single send larger than the budget goes when nothing else is in flight', () => {
    const budget = new SendBudget({ bytes: MB, largeBytes: 1024, staleMs: 600_000 });
    const big = budget.take(10 * MB);
    assert.ok(big);
    assert.equal(budget.take(2048), undefined);
    big.release();
    assert.ok(budget.take(2048));
  });
});
