import { describe, expect, it } from 'vitest';
import { ReplayWindow } from '../../../consumers/replay-window.js';

describe('ReplayWindow', () => {
  const window = () =>
    new ReplayWindow(
      new Map([
        [0, 10n],
        [1, 0n],
        [2, 7n],
      ]),
      new Map([
        [0, 15n],
        [1, 3n],
        [2, 7n],
      ]),
    );

  it('counts what is left per partition between the start and the end offsets', () => {
    const w = window();
    expect(w.remaining()).toBe(8n);
    expect(w.finished()).toBe(false);
  });

  it('a record is within when before its partition\'s end; a partition without an end has none', () => {
    const w = window();
    expect(w.within(0, '14')).toBe(true);
    expect(w.within(0, '15')).toBe(false);
    expect(w.within(2, 7n)).toBe(false);
    expect(w.within(9, '0')).toBe(false);
  });

  it('advances per partition, never backwards, and finishes when every partition reached its end', () => {
    const w = window();
    w.advance(0, '12');
    expect(w.remaining()).toBe(5n);
    w.advance(0, '11');
    expect(w.remaining()).toBe(5n);
    w.advance(1, '2');
    expect(w.remaining()).toBe(2n);
    // Records past the end (written after the replay started) do not count below zero.
    w.advance(0, '40');
    expect(w.remaining()).toBe(0n);
    expect(w.finished()).toBe(true);
  });

  it('a window over an empty log is finished at once', () => {
    expect(new ReplayWindow(new Map([[0, 4n]]), new Map([[0, 4n]])).finished()).toBe(true);
    expect(new ReplayWindow(new Map(), new Map()).finished()).toBe(true);
  });
});
