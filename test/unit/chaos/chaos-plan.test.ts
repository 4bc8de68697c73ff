import { describe, expect, it } from 'vitest';
import { OUTAGE_SERVICES, planChaos, type FaultCounts } from '../../../src/chaos/chaos-plan.js';
import { orderIdsOf, planSubjects } from '../../../src/chaos/chaos-subjects.js';
import { createPrng } from '../../../src/chaos/prng.js';

const FAULTS: FaultCounts = { kill: 4, elasticsearch: 3, redis: 3, kafka: 2, 'schema-registry': 2, bigquery: 2 };
const options = (erased: number[]) => ({
  erased,
  waves: 10,
  faults: FAULTS,
  outageMs: [10_000, 30_000] as [number, number],
  gapMs: [2000, 8000] as [number, number],
  restartMs: [1000, 5000] as [number, number],
  leadMs: 3000,
});

describe('the chaos plan', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = planChaos(createPrng(7), options(planSubjects(100, createPrng(7)).erased));
    const b = planChaos(createPrng(7), options(planSubjects(100, createPrng(7)).erased));
    const c = planChaos(createPrng(8), options(planSubjects(100, createPrng(8)).erased));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('erases every user exactly once, over waves that end before the last fault', () => {
    const { erased } = planSubjects(1000, createPrng(3));
    const plan = planChaos(createPrng(3), options(erased));
    const waved = plan.waves.flatMap((w) => w.transactions.flatMap((t) => t.users));
    expect(waved.sort((x, y) => x - y)).toEqual(erased);
    expect(plan.waves).toHaveLength(10);
    expect(plan.waves.at(-1)!.atMs).toBeLessThan(plan.endsAtMs);
    expect(new Set(plan.waves.flatMap((w) => w.transactions.map((t) => t.mode)))).toEqual(new Set(['delete', 'anonymize']));
  });

  it('injects each fault kind as often as asked, outages one after another within their bounds', () => {
    const plan = planChaos(createPrng(11), options([1, 2, 3]));
    for (const s of OUTAGE_SERVICES) expect(plan.outages.filter((o) => o.service === s)).toHaveLength(FAULTS[s]);
    expect(plan.kills).toHaveLength(4);
    for (const [i, o] of plan.outages.entries()) {
      expect(o.durationMs).toBeGreaterThanOrEqual(10_000);
      expect(o.durationMs).toBeLessThanOrEqual(30_000);
      if (i > 0) expect(o.atMs).toBeGreaterThanOrEqual(plan.outages[i - 1]!.atMs + plan.outages[i - 1]!.durationMs + 2000);
    }
    for (const k of plan.kills) {
      expect(k.atMs).toBeGreaterThanOrEqual(3000);
      expect(k.atMs).toBeLessThanOrEqual(plan.endsAtMs);
    }
  });

  it('without faults, still spreads the waves', () => {
    const none: FaultCounts = { kill: 0, elasticsearch: 0, redis: 0, kafka: 0, 'schema-registry': 0, bigquery: 0 };
    const plan = planChaos(createPrng(1), { ...options([1, 2, 3, 4]), faults: none, waves: 2 });
    expect(plan.outages).toEqual([]);
    expect(plan.kills).toEqual([]);
    expect(plan.waves.map((w) => w.transactions.flatMap((t) => t.users).length)).toEqual([2, 2]);
  });
});

describe('the chaos subjects', () => {
  it('has as many neighbours as erased users, none erased, most of them prefix neighbours of an erased id', () => {
    const { erased, neighbours } = planSubjects(1000, createPrng(5));
    expect(new Set(erased).size).toBe(1000);
    expect(new Set(neighbours).size).toBe(1000);
    expect(neighbours.filter((n) => erased.includes(n))).toEqual([]);
    const isErased = new Set(erased.map(String));
    const tricky = neighbours.filter((n) => erased.some((e) => String(e).startsWith(String(n)) || String(n).startsWith(String(e))));
    expect(tricky.length).toBeGreaterThan(800);
    expect(isErased.size).toBe(1000);
  });

  it('gives every user distinct order ids', () => {
    const { erased, neighbours } = planSubjects(500, createPrng(9));
    const orders = [...erased, ...neighbours].flatMap(orderIdsOf);
    expect(new Set(orders).size).toBe(orders.length);
  });
});
