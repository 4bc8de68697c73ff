import type { Prng } from './prng.js';

/**
 * The chaos run's users: `erased` are deleted (or anonymized) during the run, `neighbours` stay.
 * Most neighbours are chosen to trip a sink that matches by prefix rather than by the exact key:
 * the erased id with its last digit dropped (4 beside 42) or with a digit added (421 beside 42).
 */
export interface ChaosSubjects {
  erased: number[];
  neighbours: number[];
}

/** Each user has this many orders, with ids `user * 100 + k` for k = 1..ORDERS_PER_USER. */
export const ORDERS_PER_USER = 2;

export function orderIdsOf(user: number): number[] {
  return Array.from({ length: ORDERS_PER_USER }, (_, k) => user * 100 + k + 1);
}

export function planSubjects(count: number, rng: Prng): ChaosSubjects {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`subjects: ${count} is not a positive integer`);
  const erased = new Set<number>();
  const low = 100;
  const high = low + 20 * count;
  while (erased.size < count) erased.add(rng.int(low, high));
  const neighbours = new Set<number>();
  const add = (id: number) => {
    if (neighbours.size < count && id > 0 && !erased.has(id)) neighbours.add(id);
  };
  for (const id of rng.shuffle([...erased])) {
    if (neighbours.size >= count) break;
    add(rng.next() < 0.5 ? Math.floor(id / 10) : id * 10 + rng.int(0, 9));
  }
  // Whatever the prefixes could not fill (they collide with erased ids or with each other).
  while (neighbours.size < count) add(rng.int(low, high));
  return { erased: [...erased].sort((a, b) => a - b), neighbours: [...neighbours].sort((a, b) => a - b) };
}
