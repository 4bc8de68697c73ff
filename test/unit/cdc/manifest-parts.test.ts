import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import type { RelatedRow } from '../../../src/cdc/erasure-manifest.js';
import { eventBytes, splitEvent, varintBytes, type WholeEvent } from '../../../src/cdc/manifest-parts.js';
import { readSchema } from '../../../src/events/event-codec.js';

// The registry client's own Avro library: what the sizes here must agree with.
const schema = avro.Type.forSchema(JSON.parse(readSchema('subject-erased')) as avro.Schema, {
  logicalTypes: {},
});
const encoded = (event: object) => schema.toBuffer(event).length;

const orders = (n: number, from = 1): RelatedRow[] =>
  Array.from({ length: n }, (_, i) => ({ table: 'shop.orders', key: [{ column: 'id', value: String(from + i) }], operation: 'DELETE' as const }));

const event = (related: RelatedRow[], over: Partial<WholeEvent> = {}): WholeEvent => ({
  eventId: '3f1c2a9e-0d4b-4c1e-9a7f-2b6d8e0c1a55',
  subjectType: 'user',
  subjectId: '42',
  subjectKey: [{ column: 'id', value: '42' }],
  operation: 'DELETE',
  sourceTable: 'shop.users',
  commitLsn: '0/1A2B3C8',
  commitTime: 1_790_000_000_000,
  xid: 123_456,
  requestId: null,
  related,
  emittedAt: 1_790_000_000_123,
  ...over,
});

describe('eventBytes', () => {
  it('is the Avro encoding size, whatever the fields hold', () => {
    const cases = [
      { ...event([]), part: 1, parts: 1 },
      { ...event(orders(3)), part: 2, parts: 7 },
      { ...event(orders(200), { requestId: 'req-ünïcode-✓', subjectKey: [{ column: 'tenant', value: 'a/b' }, { column: 'AccountId', value: 'x'.repeat(300) }] }), part: 64, parts: 65 },
      { ...event([{ table: '"Sales"."Ordér"', key: [{ column: 'a', value: '' }, { column: 'b', value: 'y'.repeat(70_000) }], operation: 'UPDATE' }], { xid: 2 ** 40, commitTime: 0 }), part: 1, parts: 1 },
    ];
    for (const c of cases) expect(eventBytes(c)).toBe(encoded(c));
  });

  it('counts varints as Avro zig-zags them', () => {
    expect([0, -1, 63, 64, -65, 8191, 8192, 2 ** 31 - 1].map(varintBytes)).toEqual([1, 1, 1, 2, 2, 2, 3, 5]);
    // A number is counted without BigInt; it counts the same as the BigInt it equals.
    const values = [1_790_000_000_000, -1_790_000_000_000, 2 ** 35 - 1, 2 ** 35, 2 ** 49 - 1, -(2 ** 49), 2 ** 51 - 1, 2 ** 52, Number.MAX_SAFE_INTEGER];
    expect(values.map(varintBytes)).toEqual(values.map((v) => varintBytes(BigInt(v))));
  });
});

describe('splitEvent', () => {
  it('leaves an event that fits whole, as part 1 of 1', () => {
    const parts = splitEvent(event(orders(10)), 10_000);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ part: 1, parts: 1 });
    expect(parts[0]!.related).toHaveLength(10);
  });

  it('splits a large manifest into parts under the budget, every row once, in order', () => {
    const rows = orders(100_000);
    const budget = 200_000;
    const parts = splitEvent(event(rows), budget);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((p) => [p.part, p.parts])).toEqual(parts.map((_, i) => [i + 1, parts.length]));
    for (const p of parts) {
      expect(encoded(p)).toBeLessThanOrEqual(budget);
      // Every part but the last is nearly full: few parts, not one row each.
      if (p.part < p.parts) expect(encoded(p)).toBeGreaterThan(budget - 100);
      const { related: _r, part: _p, parts: _n, ...facts } = p;
      const { related: _w, ...whole } = event(rows);
      expect(facts).toEqual(whole);
    }
    expect(parts.flatMap((p) => p.related)).toEqual(rows);
  });

  it('keeps a budget met by the last byte', () => {
    const whole = { ...event(orders(50)), part: 1, parts: 1 };
    const size = eventBytes(whole);
    expect(splitEvent(event(orders(50)), size)).toHaveLength(1);
    const split = splitEvent(event(orders(50)), size - 1);
    expect(split.length).toBe(2);
    for (const p of split) expect(encoded(p)).toBeLessThanOrEqual(size - 1);
  });

  it('refuses a row that cannot fit beside the event fields, naming its table', () => {
    const huge = [{ table: 'shop.blobs', key: [{ column: 'id', value: 'z'.repeat(5_000) }], operation: 'DELETE' as const }];
    expect(() => splitEvent(event([...orders(2), ...huge]), 2_000)).toThrow(/shop\.blobs.*kafka\.maxMessageBytes/);
  });
});
