import { describe, expect, it } from 'vitest';
import { dueRecords, NOT_BEFORE, notBeforeOf } from '../../../consumers/retry-gate.js';

const at = (notBefore?: number | string, name = '') => ({ name, headers: notBefore === undefined ? {} : { [NOT_BEFORE]: Buffer.from(String(notBefore)) } });

describe('notBeforeOf', () => {
  it('reads the header as ms since the epoch, 0 when absent or not a number', () => {
    expect(notBeforeOf(at(1_700_000_000_123))).toBe(1_700_000_000_123);
    expect(notBeforeOf({ headers: { [NOT_BEFORE]: '42' } })).toBe(42);
    expect(notBeforeOf(at())).toBe(0);
    expect(notBeforeOf({ headers: undefined })).toBe(0);
    expect(notBeforeOf(at('soon'))).toBe(0);
  });
});

describe('dueRecords', () => {
  it('applies a batch up to its first record not yet due, and says how long until that one is', () => {
    const batch = [at(100, 'a'), at(), at(1_000, 'c'), at(50, 'd')];
    const { due, waitMs } = dueRecords(batch, 400);
    // d is due, but stays behind c: the topic's order is kept.
    expect(due.map((m) => m.name)).toEqual(['a', '']);
    expect(waitMs).toBe(600);
  });

  it('all due: the whole batch and no wait; a record due exactly now is due', () => {
    const batch = [at(1), at(400)];
    const result = dueRecords(batch, 400);
    expect(result.due).toEqual(batch);
    expect(result.due).not.toBe(batch);
    expect(result.waitMs).toBeUndefined();
  });

  it('none due: nothing applied, the wait for the first', () => {
    expect(dueRecords([at(500), at(100)], 400)).toEqual({ due: [], waitMs: 100 });
    expect(dueRecords([], 400)).toEqual({ due: [] });
  });
});
