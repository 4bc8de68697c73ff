import type { AckOutcome, AckRecord, ErasureFacts, TargetState, TargetStatus } from './erasure-status.js';

/**
 * How the acks of one target fold into its outcome, and how the parts of one erasure fold into
 * one. Pure, and every choice is a maximum over a total order or a sum over distinct parts, so
 * arrival order and redelivery never change the result.
 */

/**
 * At the same instant, the outcome that needs attention stands: an erasure is never shown done
 * on a tie with a failure of the same target.
 */
const OUTCOME_RANK: Record<AckOutcome, number> = { NOTHING_TO_DO: 0, APPLIED: 1, HELD: 2, DEFERRED: 3, FAILED: 4 };

/**
 * Which of two acks of one target (and part) is later: the one that happened later (`at`, the
 * sink's clock when it reached the outcome). So a delivery supersedes an earlier one whatever
 * its attempt number: a re-driven dead letter (attempt 1 again) that succeeds after a FAILED of
 * attempt 6 is a success; a failure after a success is a new failure. Ties are broken by the
 * attempt, the outcome (the one needing attention), then the counts and the error, never by
 * arrival. (Two sink instances with skewed clocks could misorder acks a skew apart; a group
 * gives one event's partition to one instance at a time, so its deliveries are that far apart.)
 */
export function laterAck(a: AckRecord, b: AckRecord): AckRecord {
  if (a.at !== b.at) return a.at > b.at ? a : b;
  if (a.attempt !== b.attempt) return a.attempt > b.attempt ? a : b;
  if (a.outcome !== b.outcome) return OUTCOME_RANK[a.outcome] > OUTCOME_RANK[b.outcome] ? a : b;
  if (a.affected !== b.affected) return a.affected > b.affected ? a : b;
  if (a.residual !== b.residual) return a.residual > b.residual ? a : b;
  return tieKey(a) >= tieKey(b) ? a : b;
}

const tieKey = (a: AckRecord) => JSON.stringify([a.error ?? '', Object.entries(a.details).sort(), a.part ?? 1, a.subjectId]);

const SUCCEEDED: ReadonlySet<AckOutcome> = new Set(['APPLIED', 'NOTHING_TO_DO']);

/**
 * The ack that stands for one target (of one part). The latest ack decides whether the target
 * failed, waits or is done; once done, the proof is the ack that shows what was erased: a
 * redelivered event that finds nothing left (NOTHING_TO_DO) does not hide the APPLIED ack of the
 * delivery that erased it.
 */
export function standingAck(acks: readonly AckRecord[]): AckRecord {
  const latest = acks.reduce(laterAck);
  if (!SUCCEEDED.has(latest.outcome)) return latest;
  const applied = acks.filter((a) => a.outcome === 'APPLIED');
  return applied.length > 0 ? applied.reduce(laterAck) : latest;
}

export const partOf = (a: Pick<AckRecord, 'part'>): number => a.part ?? 1;
export const partsOf = (a: Pick<AckRecord, 'parts'>): number => a.parts ?? 1;

/**
 * A target's outcome over every part of the erasure: the fields of its status that acks decide
 * (`parts`: how many of the parts have a succeeded standing ack, for an erasure sent in parts).
 */
export type TargetOutcome = Pick<TargetStatus, 'state' | 'affected' | 'residual' | 'attempt' | 'at' | 'error' | 'details' | 'parts'>;

export const STATE_OF: Record<AckOutcome, TargetState> = { APPLIED: 'applied', NOTHING_TO_DO: 'nothing_to_do', DEFERRED: 'deferred', FAILED: 'failed', HELD: 'held' };

/**
 * Folds the live acks of one target over the erasure's parts (`total` from the event; at least
 * what the acks say). Each part has its standing ack. The target is failed when any part's is,
 * deferred when any waits, held when every part is settled and one is held (the later ack of a
 * redelivery after the release supersedes it), done only when every part 1..total succeeded (applied when any part
 * applied something), pending while a part is unacknowledged. Counts sum over the parts.
 */
export function foldTargetParts(acks: readonly AckRecord[], total: number): TargetOutcome {
  const n = Math.max(total, ...acks.map(partsOf));
  const byPart = new Map<number, AckRecord[]>();
  for (const a of acks) byPart.set(partOf(a), [...(byPart.get(partOf(a)) ?? []), a]);
  const standing = [...byPart.entries()].sort(([a], [b]) => a - b).map(([, list]) => standingAck(list));
  const done = standing.filter((a) => SUCCEEDED.has(a.outcome) && partOf(a) <= n);
  const sum = (pick: (a: AckRecord) => number) => standing.reduce((s, a) => s + pick(a), 0);
  const counts = { affected: sum((a) => a.affected), residual: sum((a) => a.residual), attempt: Math.max(0, ...standing.map((a) => a.attempt)) };
  const parts = n > 1 ? { parts: { done: done.length, total: n } } : {};
  for (const outcome of ['FAILED', 'DEFERRED'] as const) {
    const waiting = standing.filter((a) => a.outcome === outcome);
    if (waiting.length === 0) continue;
    const last = waiting.reduce(laterAck);
    return { state: STATE_OF[outcome], ...counts, at: last.at, error: last.error, details: last.details, ...parts };
  }
  const details = Object.assign({}, ...standing.map((a) => a.details)) as Record<string, string>;
  const held = standing.filter((a) => a.outcome === 'HELD' && partOf(a) <= n);
  if (done.length + held.length < n) return { state: 'pending', ...counts, at: null, error: null, details, ...parts };
  if (held.length > 0) {
    const last = held.reduce(laterAck);
    return { state: 'held', ...counts, at: last.at, error: null, details: last.details, ...parts };
  }
  const state = standing.some((a) => a.outcome === 'APPLIED') ? 'applied' : 'nothing_to_do';
  return { state, ...counts, at: Math.max(...standing.map((a) => a.at)), error: null, details, ...parts };
}

/**
 * The facts of an erasure from the facts of its parts: known only once every part 1..parts has
 * been read (null until then); related rows summed over distinct parts, so a redelivered part
 * counts once. The fields every part repeats come from part 1.
 */
export function mergePartFacts(parts: readonly ErasureFacts[]): ErasureFacts | null {
  if (parts.length === 0) return null;
  const distinct = new Map<number, ErasureFacts>();
  for (const f of parts) if (!distinct.has(f.part ?? 1)) distinct.set(f.part ?? 1, f);
  const total = Math.max(0, ...parts.map((f) => f.parts ?? 1));
  for (let i = 1; i <= total; i += 1) if (!distinct.has(i)) return null;
  const related = new Map<string, ErasureFacts['related'][number]>();
  for (const [, f] of [...distinct.entries()].sort(([a], [b]) => a - b)) {
    for (const r of f.related) {
      const key = `${r.table}\u0000${r.operation}`;
      const entry = related.get(key);
      if (entry) entry.rows += r.rows;
      else related.set(key, { ...r });
    }
  }
  const { part: _part, parts: _parts, ...first } = distinct.get(1)!;
  return { ...first, related: [...related.values()], ...(total > 1 ? { parts: total } : {}) };
}
