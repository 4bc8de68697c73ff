import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../../../consumers/offset-tracker.js';

describe('OffsetTracker', () => {
  it('commits only the contiguous done prefix when work completes out of order', () => {
    const tracker = new OffsetTracker();
    for (const offset of ['10', '11', '12', '13']) tracker.track('t', 0, offset);
    tracker.done('t', 0, '12');
    tracker.done('t', 0, '11');
    expect(tracker.takeCommittable('t', 0)).toBeUndefined();
    expect(tracker.pending('t', 0)).toBe(2);
    tracker.done('t', 0, '10');
    expect(tracker.takeCommittable('t', 0)).toBe('12');
    // The prefix is forgotten once taken: nothing new to commit until 13 is done.
    expect(tracker.takeCommittable('t', 0)).toBeUndefined();
    expect(tracker.pending('t', 0)).toBe(1);
    tracker.done('t', 0, 13n);
    expect(tracker.takeCommittable('t', 0)).toBe('13');
    expect(tracker.pending('t', 0)).toBe(0);
  });

  it('keeps partitions apart, with gaps in offsets (compaction, transactions) allowed', () => {
    const tracker = new OffsetTracker();
    tracker.track('t', 0, '5');
    tracker.track('t', 0, '9');
    tracker.track('t', 1, '5');
    tracker.done('t', 0, '5');
    tracker.done('t', 0, '9');
    expect(tracker.takeCommittable('t', 1)).toBeUndefined();
    expect(tracker.takeCommittable('t', 0)).toBe('9');
    expect(tracker.pending('t', 1)).toBe(1);
    expect(tracker.takeCommittable('t', 2)).toBeUndefined();
    expect(tracker.pending('t', 2)).toBe(0);
  });

  it('compares offsets as numbers, not strings', () => {
    const tracker = new OffsetTracker();
    tracker.track('t', 0, '9');
    tracker.track('t', 0, '10');
    expect(() => tracker.track('t', 0, '9')).toThrow(RangeError);
    tracker.done('t', 0, '10');
    tracker.done('t', 0, '9');
    expect(tracker.takeCommittable('t', 0)).toBe('10');
  });

  it('forgets a partition: its done work is never committed', () => {
    const tracker = new OffsetTracker();
    tracker.track('t', 3, '1');
    tracker.done('t', 3, '1');
    tracker.forget('t', 3);
    expect(tracker.takeCommittable('t', 3)).toBeUndefined();
    expect(tracker.pending('t', 3)).toBe(0);
    // After a forget the partition may start again from an earlier offset (re-fetched).
    tracker.track('t', 3, '1');
    expect(tracker.pending('t', 3)).toBe(1);
  });

  it('refuses an offset never tracked, tracked out of order, or done after it was taken', () => {
    const tracker = new OffsetTracker();
    expect(() => tracker.done('t', 0, '1')).toThrow(/offset 1 of t\/0 was never tracked/);
    tracker.track('t', 0, '4');
    expect(() => tracker.done('t', 0, '5')).toThrow(RangeError);
    expect(() => tracker.track('t', 0, '4')).toThrow(/offset 4 of t\/0 tracked after 4/);
    expect(() => tracker.track('t', 0, '3')).toThrow(RangeError);
    tracker.done('t', 0, '4');
    expect(tracker.takeCommittable('t', 0)).toBe('4');
    expect(() => tracker.done('t', 0, '4')).toThrow(RangeError);
  });

  it('keeps counting right through a long-lived partition (its taken prefix compacted)', () => {
    const tracker = new OffsetTracker();
    for (let o = 0; o < 5000; o++) tracker.track('t', 0, BigInt(o));
    for (let o = 0; o < 3000; o++) tracker.done('t', 0, BigInt(o));
    expect(tracker.takeCommittable('t', 0)).toBe('2999');
    expect(tracker.pending('t', 0)).toBe(2000);
    tracker.track('t', 0, 5000n);
    expect(() => tracker.track('t', 0, 4999n)).toThrow(RangeError);
    expect(() => tracker.done('t', 0, 10n)).toThrow(/offset 10 of t\/0 was never tracked/);
    for (let o = 3000; o <= 5000; o++) tracker.done('t', 0, BigInt(o));
    tracker.done('t', 0, 5000n); // done twice is still one
    expect(tracker.pending('t', 0)).toBe(0);
    expect(tracker.takeCommittable('t', 0)).toBe('5000');
  });

  it("keeps a topic's offsets apart from another topic's partition of the same number", () => {
    // The erasures topic and the retry topic, both partition 0, in flight at once.
    const tracker = new OffsetTracker();
    for (const offset of ['1000', '1001']) tracker.track('erasures', 0, offset);
    for (const offset of ['2000', '2001']) tracker.track('retry', 0, offset);
    tracker.track('retry', 0, '2002');
    // Lower offsets of the other topic are no "going backwards".
    expect(() => tracker.track('erasures', 0, '1002')).not.toThrow();
    tracker.done('retry', 0, '2000');
    tracker.done('retry', 0, '2001');
    expect(tracker.takeCommittable('retry', 0)).toBe('2001');
    tracker.done('erasures', 0, '1000');
    tracker.done('erasures', 0, '1001');
    // Never past its own offsets into the other topic's.
    expect(tracker.takeCommittable('erasures', 0)).toBe('1001');
    tracker.forget('retry', 0);
    expect(tracker.pending('erasures', 0)).toBe(1);
    expect(() => tracker.done('erasures', 0, '1002')).not.toThrow();
    expect(tracker.takeCommittable('erasures', 0)).toBe('1002');
  });
});
