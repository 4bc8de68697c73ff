import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../../../consumers/offset-tracker.js';

describe('OffsetTracker', () => {
  it('commits only the contiguous done prefix when work completes out of order', () => {
    const tracker = new OffsetTracker();
    for (const offset of ['10', '11', '12', '13']) tracker.track(0, offset);
    tracker.done(0, '12');
    tracker.done(0, '11');
    expect(tracker.takeCommittable(0)).toBeUndefined();
    expect(tracker.pending(0)).toBe(2);
    tracker.done(0, '10');
    expect(tracker.takeCommittable(0)).toBe('12');
    // The prefix is forgotten once taken: nothing new to commit until 13 is done.
    expect(tracker.takeCommittable(0)).toBeUndefined();
    expect(tracker.pending(0)).toBe(1);
    tracker.done(0, 13n);
    expect(tracker.takeCommittable(0)).toBe('13');
    expect(tracker.pending(0)).toBe(0);
  });

  it('keeps partitions apart, with gaps in offsets (compaction, transactions) allowed', () => {
    const tracker = new OffsetTracker();
    tracker.track(0, '5');
    tracker.track(0, '9');
    tracker.track(1, '5');
    tracker.done(0, '5');
    tracker.done(0, '9');
    expect(tracker.takeCommittable(1)).toBeUndefined();
    expect(tracker.takeCommittable(0)).toBe('9');
    expect(tracker.pending(1)).toBe(1);
    expect(tracker.takeCommittable(2)).toBeUndefined();
    expect(tracker.pending(2)).toBe(0);
  });

  it('compares offsets as numbers, not strings', () => {
    const tracker = new OffsetTracker();
    tracker.track(0, '9');
    tracker.track(0, '10');
    expect(() => tracker.track(0, '9')).toThrow(RangeError);
    tracker.done(0, '10');
    tracker.done(0, '9');
    expect(tracker.takeCommittable(0)).toBe('10');
  });

  it('forgets a partition: its done work is never committed', () => {
    const tracker = new OffsetTracker();
    tracker.track(3, '1');
    tracker.done(3, '1');
    tracker.forget(3);
    expect(tracker.takeCommittable(3)).toBeUndefined();
    expect(tracker.pending(3)).toBe(0);
    // After a forget the partition may start again from an earlier offset (re-fetched).
    tracker.track(3, '1');
    expect(tracker.pending(3)).toBe(1);
  });

  it('refuses an offset never tracked, tracked out of order, or done after it was taken', () => {
    const tracker = new OffsetTracker();
    expect(() => tracker.done(0, '1')).toThrow(/offset 1 of partition 0 was never tracked/);
    tracker.track(0, '4');
    expect(() => tracker.done(0, '5')).toThrow(RangeError);
    expect(() => tracker.track(0, '4')).toThrow(/offset 4 of partition 0 tracked after 4/);
    expect(() => tracker.track(0, '3')).toThrow(RangeError);
    tracker.done(0, '4');
    expect(tracker.takeCommittable(0)).toBe('4');
    expect(() => tracker.done(0, '4')).toThrow(RangeError);
  });

  it('keeps counting right through a long-lived partition (its taken prefix compacted)', () => {
    const tracker = new OffsetTracker();
    for (let o = 0; o < 5000; o++) tracker.track(0, BigInt(o));
    for (let o = 0; o < 3000; o++) tracker.done(0, BigInt(o));
    expect(tracker.takeCommittable(0)).toBe('2999');
    expect(tracker.pending(0)).toBe(2000);
    tracker.track(0, 5000n);
    expect(() => tracker.track(0, 4999n)).toThrow(RangeError);
    expect(() => tracker.done(0, 10n)).toThrow(/offset 10 of partition 0 was never tracked/);
    for (let o = 3000; o <= 5000; o++) tracker.done(0, BigInt(o));
    tracker.done(0, 5000n); // done twice is still one
    expect(tracker.pending(0)).toBe(0);
    expect(tracker.takeCommittable(0)).toBe('5000');
  });
});
