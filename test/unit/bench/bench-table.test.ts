import { describe, expect, it } from 'vitest';
import { format, rows } from '../../../src/bench/bench-table.js';
import { percentile } from '../../../src/bench/bench-kit.js';

describe('the bench table', () => {
  it('puts Lethe beside its reference with the ratio and whether the goal is met', () => {
    const table = rows({ reader: { lethe: 30_000, reference: 100_000 }, sinks: { redis: { lethe: 600, reference: 1000 } }, memory: {} });
    expect(table.map((r) => [r.stage, r.ratio, r.met])).toEqual([
      ['reader (vs pg_recvlogical)', '0.30', 'no'],
      ['Redis sink (vs ioredis script)', '0.60', 'yes'],
    ]);
  });

  it('reports a stage that did not complete as not met, never as a figure', () => {
    const [row] = rows({ sinks: { compacted: { lethe: Number.NaN, reference: 1000 } }, memory: {} });
    expect(row).toMatchObject({ lethe: 'n/a erasures/s', ratio: 'n/a', met: 'no' });
  });

  it('judges latency on both percentiles and memory on the peak and on completion', () => {
    const table = rows({
      sinks: {},
      latency: { p50: 0.4, p99: 2.5, atPerSecond: 1000 },
      memory: { backlog: { mib: 200, subjects: 1_000_000 }, transaction: { mib: 200, subjects: 1_000_000, note: 'not confirmed within 300 s' } },
      bigquery: { perSecond: 50, dmlPerErasure: 0.004 },
    });
    expect(table.map((r) => r.met)).toEqual(['no', 'yes', 'no', 'yes']);
    expect(table[1]!.stage).toBe('memory: 1M erasure backlog');
  });

  it('prints one aligned table with a header', () => {
    const lines = format(rows({ endToEnd: { perSecond: 5200 }, sinks: {}, memory: {} })).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\| stage +\| Lethe +\| reference \(same run, same data\) \| ratio \| goal +\| met\? \|$/);
    expect(lines[2]).toContain('5,200 erasures/s');
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(percentile([], 50)).toBeNaN();
  });
});
