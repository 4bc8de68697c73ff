import type { Prng } from './prng.js';

/** Services the chaos run stops and starts again (stack/stack.sh names). PostgreSQL stays up: it is the source of truth. */
export const OUTAGE_SERVICES = ['elasticsearch', 'redis', 'kafka', 'schema-registry', 'bigquery'] as const;
export type OutageService = (typeof OUTAGE_SERVICES)[number];
export const FAULT_KINDS = ['kill', ...OUTAGE_SERVICES] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultCounts = Record<FaultKind, number>;

/** How an erased user is erased: the row deleted (orders cascade), or anonymized in place with its orders deleted. */
export type ErasureMode = 'delete' | 'anonymize';
export interface ErasureTransaction {
  mode: ErasureMode;
  users: number[];
}
export interface Wave {
  atMs: number;
  transactions: ErasureTransaction[];
}
export interface Kill {
  atMs: number;
  restartAfterMs: number;
}
export interface Outage {
  /** The earliest start; outages run one after another, so a slow stop or start pushes the next. */
  atMs: number;
  service: OutageService;
  durationMs: number;
}
export interface ChaosPlan {
  waves: Wave[];
  kills: Kill[];
  outages: Outage[];
  /** When the last planned fault ends (the waves are spread up to here). */
  endsAtMs: number;
}

export interface PlanOptions {
  erased: number[];
  waves: number;
  faults: FaultCounts;
  outageMs: [number, number];
  /** Between the end of one outage and the start of the next. */
  gapMs: [number, number];
  /** How long a killed `lethe run` stays down before it is started again. */
  restartMs: [number, number];
  /** Before the first fault: the first wave is under way. */
  leadMs: number;
}

/** The run's timeline, every choice drawn from `rng`: the same seed and options give the same plan. */
export function planChaos(rng: Prng, o: PlanOptions): ChaosPlan {
  const outages: Outage[] = [];
  let at = o.leadMs;
  const services = rng.shuffle(OUTAGE_SERVICES.flatMap((s) => Array.from({ length: o.faults[s] }, () => s)));
  for (const service of services) {
    const durationMs = rng.int(o.outageMs[0], o.outageMs[1]);
    outages.push({ atMs: at, service, durationMs });
    at += durationMs + rng.int(o.gapMs[0], o.gapMs[1]);
  }
  const endsAtMs = Math.max(at, o.leadMs + o.waves * 2000);
  const kills = Array.from({ length: o.faults.kill }, () => ({
    atMs: rng.int(o.leadMs, endsAtMs),
    restartAfterMs: rng.int(o.restartMs[0], o.restartMs[1]),
  })).sort((a, b) => a.atMs - b.atMs);
  // The last wave lands while the last outage is still on, not after it.
  return { waves: planWaves(rng, o.erased, o.waves, Math.round(endsAtMs * 0.9)), kills, outages, endsAtMs };
}

/**
 * Spreads the erased users over `count` waves from time 0 to `untilMs`. A wave's users are cut
 * into transactions of 1, 5 or 25 users (one transaction holding many erasures is what a batch
 * job commits); one in five transactions anonymizes in place instead of deleting.
 */
function planWaves(rng: Prng, erased: number[], count: number, untilMs: number): Wave[] {
  const users = rng.shuffle(erased);
  const waves: Wave[] = [];
  const step = count > 1 ? untilMs / (count - 1) : 0;
  for (let w = 0; w < count; w += 1) {
    const slice = users.slice(Math.floor((w * users.length) / count), Math.floor(((w + 1) * users.length) / count));
    const transactions: ErasureTransaction[] = [];
    for (let i = 0; i < slice.length; ) {
      const size = rng.pick([1, 1, 5, 25]);
      transactions.push({ mode: rng.next() < 0.2 ? 'anonymize' : 'delete', users: slice.slice(i, i + size) });
      i += size;
    }
    waves.push({ atMs: Math.round(w * step), transactions });
  }
  return waves;
}

export function totalFaults(counts: FaultCounts): number {
  return FAULT_KINDS.reduce((sum, k) => sum + counts[k], 0);
}
