import { describe, expect, it } from 'vitest';
import { passed, problemLines, summaryLine, type ChaosResult } from '../../../src/chaos/chaos-verdict.js';

const base = (): ChaosResult => ({
  erasures: 3,
  left: [],
  touched: [],
  statuses: new Map([
    [42, 'complete'],
    [43, 'complete'],
    [44, 'complete'],
  ]),
  faults: { kill: 2, elasticsearch: 1, redis: 0, kafka: 1, 'schema-registry': 0, bigquery: 0 },
  seed: 12345,
  elapsedMs: 61_400,
});

describe('the chaos verdict', () => {
  it('prints one line with every count, and passes only when all is clean and complete', () => {
    const r = base();
    expect(summaryLine(r)).toBe(
      'chaos: erasures 3, subjects with data left 0, neighbours touched 0, statuses complete 3 / failed 0 / other 0, faults 4 (kill 2, elasticsearch 1, kafka 1), seed 12345, 61 s',
    );
    expect(passed(r)).toBe(true);
    expect(problemLines(r)).toEqual([]);
  });

  it('counts users, not findings, and names each store, key and status at fault', () => {
    const r = base();
    r.left = [
      { user: 42, store: 'redis', item: 'p:user:42' },
      { user: 42, store: 'redis', item: 'p:order:4201' },
      { user: 43, store: 'bigquery', item: 'ds.events user_id=43 (2 row(s))' },
    ];
    r.touched = [{ user: 4, store: 'elasticsearch', item: 'p-users/4' }];
    r.statuses.set(44, 'failed');
    r.statuses.set(43, 'missing');
    expect(summaryLine(r)).toContain('subjects with data left 2, neighbours touched 1, statuses complete 1 / failed 1 / other 1');
    expect(passed(r)).toBe(false);
    expect(problemLines(r)).toEqual([
      'data left in bigquery: 1 user(s): 43 [ds.events user_id=43 (2 row(s))]',
      'data left in redis: 1 user(s): 42 [p:user:42, p:order:4201]',
      'neighbours touched in elasticsearch: 1 user(s): 4 [p-users/4]',
      'status failed: 1 user(s): 44',
      'status missing: 1 user(s): 43',
    ]);
  });

  it('fails when an erasure is not complete even if the stores are clean', () => {
    const r = base();
    r.statuses.set(42, 'partial');
    expect(passed(r)).toBe(false);
  });
});
