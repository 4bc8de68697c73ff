import { describe, expect, it } from 'vitest';
import { ChaosUsageError, parseChaosOptions, parseFaults } from '../../../src/chaos/chaos-options.js';
import { createPrng } from '../../../src/chaos/prng.js';

describe('chaos options', () => {
  it('defaults to the full run: 1000 subjects, several faults of each kind, outages of 10 to 30 s', () => {
    const o = parseChaosOptions([], {});
    expect(o).toMatchObject({ short: false, subjects: 1000, seed: undefined, outageMs: [10_000, 30_000], keep: false });
    expect(Object.values(o.faults).every((n) => n >= 2)).toBe(true);
  });

  it('takes flags over CHAOS_* variables, and --short makes everything smaller', () => {
    const o = parseChaosOptions(['--short', '--seed', '42', '--faults=kill=1,redis=2'], { CHAOS_SUBJECTS: '50', CHAOS_SEED: '7' });
    expect(o).toMatchObject({ short: true, subjects: 50, seed: 42 });
    expect(o.faults).toEqual({ kill: 1, elasticsearch: 0, redis: 2, kafka: 0, 'schema-registry': 0, bigquery: 0 });
    expect(o.outageMs[1]).toBeLessThan(30_000);
    expect(parseChaosOptions([], { CHAOS_SHORT: '1' }).subjects).toBe(300);
  });

  it('refuses what it does not know, naming it', () => {
    expect(() => parseChaosOptions(['--subject', '5'], {})).toThrow(/unknown argument '--subject'/);
    expect(() => parseChaosOptions(['--subjects', 'many'], {})).toThrow(ChaosUsageError);
    expect(() => parseFaults('postgres=1')).toThrow(/'postgres=1'/);
    expect(Object.values(parseFaults('none'))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('the seeded generator', () => {
  it('repeats itself for a seed and stays in range', () => {
    const a = createPrng(123);
    const b = createPrng(123);
    const draws = Array.from({ length: 1000 }, () => a.int(3, 9));
    expect(Array.from({ length: 1000 }, () => b.int(3, 9))).toEqual(draws);
    expect(Math.min(...draws)).toBe(3);
    expect(Math.max(...draws)).toBe(9);
    expect(createPrng(5).shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
