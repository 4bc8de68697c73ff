import { describe, expect, it } from 'vitest';
import { HEALTH_REFRESH_MS, parseSinkHealth, type SinkHealthRecord } from '../../../src/kafka/sink-health.js';
import { describeWait, SinkWaits, WAIT_EXPIRY_MS } from '../../../src/tracker/sink-waits.js';

const T = 1_700_000_000_000;

function waiting(sink: string, instance: string, at: number, since = at, service = 'elasticsearch'): SinkHealthRecord {
  return { sink, instance, state: 'waiting', service, reason: `${service}: connect ECONNREFUSED`, since, at };
}
function ok(sink: string, instance: string, at: number): SinkHealthRecord {
  return { sink, instance, state: 'ok', service: null, reason: null, since: null, at };
}

describe('SinkWaits', () => {
  it('a sink waits while its latest record says so, and no longer once an ok follows', () => {
    const waits = new SinkWaits();
    expect(waits.record(waiting('elasticsearch', 'a', T), T)).toBe(true);
    expect(waits.current(T + 1)).toEqual([{ sink: 'elasticsearch', service: 'elasticsearch', reason: 'elasticsearch: connect ECONNREFUSED', since: T, instances: 1 }]);
    // The refresh of the same wait does not start another.
    expect(waits.record(waiting('elasticsearch', 'a', T + HEALTH_REFRESH_MS, T), T + HEALTH_REFRESH_MS)).toBe(false);
    expect(waits.record(ok('elasticsearch', 'a', T + HEALTH_REFRESH_MS + 1), T + HEALTH_REFRESH_MS + 1)).toBe(false);
    expect(waits.current(T + HEALTH_REFRESH_MS + 2)).toEqual([]);
    expect(waits.waitOf('elasticsearch', T + HEALTH_REFRESH_MS + 2)).toBeUndefined();
    // A new outage later is a new wait.
    expect(waits.record(waiting('elasticsearch', 'a', T + 60_000), T + 60_000)).toBe(true);
  });

  it('an older record read after a newer one changes nothing', () => {
    const waits = new SinkWaits();
    waits.record(ok('redis', 'a', T + 10), T + 10);
    expect(waits.record(waiting('redis', 'a', T), T + 10)).toBe(false);
    expect(waits.current(T + 10)).toEqual([]);
  });

  it('a waiting record not refreshed for WAIT_EXPIRY_MS is from an instance that is gone', () => {
    const waits = new SinkWaits();
    waits.record(waiting('redis', 'a', T, T, 'redis'), T);
    expect(waits.waitOf('redis', T + WAIT_EXPIRY_MS - 1)).toBeDefined();
    expect(waits.waitOf('redis', T + WAIT_EXPIRY_MS)).toBeUndefined();
    // Read late (the tracker catching up on the topic), a stale record does not start a wait.
    const late = new SinkWaits();
    expect(late.record(waiting('redis', 'a', T, T, 'redis'), T + WAIT_EXPIRY_MS)).toBe(false);
    expect(late.current(T + WAIT_EXPIRY_MS)).toEqual([]);
  });

  it('folds several instances of a sink into one wait: counted, since the earliest', () => {
    const waits = new SinkWaits();
    expect(waits.record(waiting('bigquery', 'b', T + 5_000, T + 5_000, 'bigquery'), T + 5_000)).toBe(true);
    expect(waits.record(waiting('bigquery', 'a', T + 6_000, T + 1_000, 'bigquery'), T + 6_000)).toBe(false);
    expect(waits.record(ok('bigquery', 'c', T + 6_000), T + 6_000)).toBe(false);
    expect(waits.waitOf('bigquery', T + 7_000)).toMatchObject({ since: T + 1_000, instances: 2 });
    // One instance recovering leaves the sink waiting on the other.
    waits.record(ok('bigquery', 'a', T + 8_000), T + 8_000);
    expect(waits.waitOf('bigquery', T + 9_000)).toMatchObject({ since: T + 5_000, instances: 1 });
  });

  it('keeps sinks apart, sorted by name', () => {
    const waits = new SinkWaits();
    expect(waits.record(waiting('redis', 'a', T, T, 'redis'), T)).toBe(true);
    expect(waits.record(waiting('elasticsearch', 'a', T), T)).toBe(true);
    expect(waits.current(T).map((w) => [w.sink, w.service])).toEqual([
      ['elasticsearch', 'elasticsearch'],
      ['redis', 'redis'],
    ]);
  });
});

describe('describeWait', () => {
  it('names the server and since when', () => {
    expect(describeWait({ sink: 'elasticsearch', service: 'elasticsearch', reason: 'r', since: Date.UTC(2026, 0, 2, 3, 4, 5), instances: 1 })).toBe(
      'waiting: elasticsearch unreachable since 2026-01-02T03:04:05.000Z',
    );
  });
});

describe('parseSinkHealth', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('reads a record, with null for the fields an ok record leaves out', () => {
    expect(parseSinkHealth(json(waiting('redis', 'h-1', T, T - 5, 'redis')))).toEqual(waiting('redis', 'h-1', T, T - 5, 'redis'));
    expect(parseSinkHealth(json({ sink: 'redis', instance: 'h-1', state: 'ok', at: T }))).toEqual(ok('redis', 'h-1', T));
  });

  it('is undefined for a tombstone, bad JSON, and a record missing a field or with an unknown state', () => {
    expect(parseSinkHealth(null)).toBeUndefined();
    expect(parseSinkHealth(Buffer.from('{not json'))).toBeUndefined();
    expect(parseSinkHealth(Buffer.from('null'))).toBeUndefined();
    expect(parseSinkHealth(Buffer.from('7'))).toBeUndefined();
    const full = { sink: 'redis', instance: 'h-1', state: 'waiting', at: T };
    for (const field of ['sink', 'instance', 'state', 'at'] as const) {
      const { [field]: _, ...rest } = full;
      expect(parseSinkHealth(json(rest)), field).toBeUndefined();
    }
    expect(parseSinkHealth(json({ ...full, state: 'sleeping' }))).toBeUndefined();
    expect(parseSinkHealth(json({ ...full, at: String(T) }))).toBeUndefined();
  });
});
