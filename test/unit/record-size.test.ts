import { describe, expect, it } from 'vitest';
import { RECORD_BATCH_OVERHEAD, recordBytes, sendsWithin } from '../../src/kafka/record-size.js';

const message = (i: number, valueBytes: number) => ({ key: `user:${i}`, value: Buffer.alloc(valueBytes), headers: { 'lethe-event-id': 'e'.repeat(36) } });

describe('Kafka record sizes', () => {
  it('bounds a record by its key, value and headers plus the framing at its largest', () => {
    const bare = recordBytes({ key: null, value: null });
    expect(recordBytes({ key: 'k', value: Buffer.alloc(10) })).toBe(bare + 11);
    expect(recordBytes(message(1, 100))).toBe(bare + 'user:1'.length + 100 + 5 + 'lethe-event-id'.length + 5 + 36);
  });

  it('groups messages in order into sends within the byte limit and record count', () => {
    const messages = Array.from({ length: 50 }, (_, i) => message(i, 10_000));
    const sends = sendsWithin(messages, 100_000);
    expect(sends.flat()).toEqual(messages);
    for (const send of sends) expect(RECORD_BATCH_OVERHEAD + send.reduce((n, m) => n + recordBytes(m), 0)).toBeLessThanOrEqual(100_000);
    expect(sends.length).toBe(Math.ceil(50 / 9));
    expect(sendsWithin(messages, 10_000_000, 20).map((s) => s.length)).toEqual([20, 20, 10]);
    // One too large alone still goes, alone: the broker names it.
    expect(sendsWithin([message(1, 10), message(2, 500_000), message(3, 10)], 100_000).map((s) => s.length)).toEqual([1, 1, 1]);
    expect(sendsWithin([], 100)).toEqual([]);
  });
});
