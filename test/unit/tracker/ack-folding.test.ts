import { describe, expect, it } from 'vitest';
import { esTarget, HOUR, T0, userAck, userFacts, userTargets } from '../../support/erasure-fixtures.js';
import { permutations } from '../../support/permutations.js';
import { foldTargetParts, laterAck, mergePartFacts, standingAck } from '../../../src/tracker/ack-folding.js';
import { buildReport } from '../../../src/tracker/proof-report.js';
import { foldErasure, type AckRecord, type ErasureFacts, type FoldInput } from '../../../src/tracker/erasure-status.js';

const facts = userFacts;
const expected = userTargets;
const ack = userAck;
const fold = (over: Partial<FoldInput>) => foldErasure({ facts, expected, acks: [], confirmations: [], slaMs: 72 * HOUR, now: T0 + 60_000, ...over });
/** Every order, each with a duplicate of its first ack: the folding must not care. */
const deliveries = <T>(list: T[]): T[][] => permutations(list).map((p) => [...p, p[0]!]);
const esDone = ack({ ...esTarget, outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 500 });

describe('the order acks of one target fold in', () => {
  it('fail then success: a re-driven delivery (attempt 1 again) that succeeds makes it done', () => {
    const failed = ack({ outcome: 'FAILED', affected: 0, residual: 1, attempt: 6, at: T0 + 1000, error: 'failed after 6 attempts' });
    const redriven = ack({ outcome: 'APPLIED', affected: 2, attempt: 1, at: T0 + 50_000 });
    for (const order of deliveries([failed, redriven, esDone])) {
      const s = fold({ acks: order });
      expect(s.status).toBe('complete');
      expect(s.targets[0]).toMatchObject({ state: 'applied', affected: 2, error: null, at: T0 + 50_000 });
      expect(s.completedAt).toBe(T0 + 50_000);
    }
  });

  it('success then fail: a failure after a success of the same event is a new failure', () => {
    const applied = ack({ outcome: 'APPLIED', affected: 2, attempt: 3, at: T0 + 1000 });
    const failed = ack({ outcome: 'FAILED', affected: 0, residual: 2, attempt: 1, at: T0 + 9000, error: 'verification found 2 remaining' });
    for (const order of deliveries([applied, failed, esDone])) {
      const s = fold({ acks: order });
      expect(s.status).toBe('failed');
      expect(s.targets[0]).toMatchObject({ state: 'failed', residual: 2, error: 'verification found 2 remaining' });
    }
  });

  it('fail, success, fail, success: the last of them stands, and the proof is the erasing ack', () => {
    const acks = [
      ack({ outcome: 'FAILED', affected: 0, attempt: 6, at: T0 + 1000 }),
      ack({ outcome: 'APPLIED', affected: 3, attempt: 1, at: T0 + 2000 }),
      ack({ outcome: 'FAILED', affected: 0, attempt: 6, at: T0 + 3000 }),
      ack({ outcome: 'NOTHING_TO_DO', affected: 0, attempt: 1, at: T0 + 4000 }),
    ];
    for (const order of deliveries(acks)) expect(fold({ acks: [...order, esDone] }).targets[0]).toMatchObject({ state: 'applied', affected: 3, at: T0 + 2000 });
    for (const order of deliveries(acks.slice(0, 3))) expect(fold({ acks: [...order, esDone] }).targets[0]!.state).toBe('failed');
  });

  it('a NOTHING_TO_DO redelivery after an APPLIED keeps the APPLIED as proof', () => {
    const applied = ack({ outcome: 'APPLIED', affected: 3, at: T0 + 1000 });
    const again = ack({ outcome: 'NOTHING_TO_DO', affected: 0, attempt: 1, at: T0 + 8000 });
    for (const order of deliveries([applied, again])) expect(standingAck(order)).toBe(applied);
  });

  it('breaks ties by attempt, then the outcome needing attention, then the counts; never by arrival', () => {
    const a = ack({ outcome: 'APPLIED', attempt: 2, at: T0 + 1000 });
    const b = ack({ outcome: 'FAILED', attempt: 1, at: T0 + 1000 });
    expect(laterAck(a, b)).toBe(a);
    expect(laterAck(b, a)).toBe(a);
    const failed = ack({ outcome: 'FAILED', affected: 0, at: T0 + 1000, error: 'boom' });
    const applied = ack({ outcome: 'APPLIED', at: T0 + 1000 });
    expect(laterAck(failed, applied)).toBe(failed);
    expect(laterAck(applied, failed)).toBe(failed);
    const x = ack({ outcome: 'FAILED', at: T0 + 1000, error: 'x', affected: 0 });
    const y = ack({ outcome: 'FAILED', at: T0 + 1000, error: 'y', affected: 0 });
    expect(laterAck(x, y)).toBe(laterAck(y, x));
    const p = ack({ affected: 1, residual: 1 });
    const q = ack({ affected: 1, residual: 0 });
    expect(laterAck(p, q)).toBe(laterAck(q, p));
  });

  it('replays stay beside the live outcome, whenever they happened', () => {
    const live = ack({ outcome: 'FAILED', affected: 0, at: T0 + 1000 });
    const replayed = ack({ outcome: 'APPLIED', replay: true, at: T0 + 9000 });
    for (const order of deliveries([live, replayed, esDone])) {
      expect(fold({ acks: order }).targets[0]).toMatchObject({ state: 'failed', replays: 1, lastReplay: { outcome: 'APPLIED' } });
    }
  });
});

describe('an erasure sent in parts', () => {
  const partFacts = (part: number, parts: number, rows: number): ErasureFacts => ({ ...facts, part, parts, related: [{ table: 'shop.orders', operation: 'DELETE', rows }] });
  const merged = mergePartFacts([partFacts(1, 3, 40_000), partFacts(2, 3, 40_000), partFacts(3, 3, 20_000)])!;
  const part = (p: number, over: Partial<AckRecord> = {}) => ack({ part: p, parts: 3, affected: 1000 * p, at: T0 + 1000 * p, ...over });
  const esParts = [1, 2, 3].map((p) => part(p, { ...esTarget, outcome: 'NOTHING_TO_DO', affected: 0 }));

  it('is known once every part has been read; a redelivered part counts once', () => {
    expect(mergePartFacts([partFacts(1, 3, 40_000), partFacts(3, 3, 20_000)])).toBeNull();
    for (const order of deliveries([partFacts(1, 3, 40_000), partFacts(2, 3, 40_000), partFacts(3, 3, 20_000)])) {
      expect(mergePartFacts(order)).toEqual({ ...facts, parts: 3, related: [{ table: 'shop.orders', operation: 'DELETE', rows: 100_000 }] });
    }
    expect(mergePartFacts([{ ...facts, related: [{ table: 'shop.orders', operation: 'DELETE', rows: 5 }] }])).toEqual({ ...facts, related: [{ table: 'shop.orders', operation: 'DELETE', rows: 5 }] });
    expect(mergePartFacts([])).toBeNull();
    const unknown = fold({ facts: mergePartFacts([partFacts(2, 3, 1)]), subject: { eventId: 'e-1', subjectType: 'user', subjectId: '42' }, acks: [part(1), part(2), part(3), ...esParts] });
    expect(unknown).toMatchObject({ known: false, status: 'pending' });
  });

  it('a target is done only when every part succeeded; counts sum over the parts', () => {
    for (const order of deliveries([part(1), part(2), part(3)])) {
      const s = fold({ facts: merged, acks: [...order, ...esParts] });
      expect(s.status).toBe('complete');
      expect(s.targets[0]).toMatchObject({ state: 'applied', affected: 6000, at: T0 + 3000, parts: { done: 3, total: 3 } });
      expect(s.targets[1]).toMatchObject({ state: 'nothing_to_do', affected: 0, parts: { done: 3, total: 3 } });
      const report = buildReport(s, T0 + 60_000);
      expect(report.change).toContain('shop.orders: 100000 rows deleted in the same transaction');
      expect(report.change.join('\n')).toMatch(/sent in 3 parts/);
      expect(report.targets[0]).toMatchObject({ done: 'deleted 6000 keys' });
    }
    const missing = fold({ facts: merged, acks: [part(1), part(3), ...esParts] });
    expect(missing.status).toBe('partial');
    expect(missing.targets[0]).toMatchObject({ state: 'pending', affected: 4000, at: null, parts: { done: 2, total: 3 } });
    // Without the facts (not every part read), the acks still say how many parts there are.
    expect(foldTargetParts([part(1), part(2)], 1)).toMatchObject({ state: 'pending', parts: { done: 2, total: 3 } });
  });

  it('a part that failed fails the target, until a later delivery of that part succeeds', () => {
    const failed = part(2, { outcome: 'FAILED', affected: 0, residual: 7, attempt: 6, error: 'failed after 6 attempts' });
    for (const order of deliveries([part(1), failed, part(3)])) {
      const s = fold({ facts: merged, acks: [...order, ...esParts] });
      expect(s.status).toBe('failed');
      expect(s.targets[0]).toMatchObject({ state: 'failed', error: 'failed after 6 attempts', parts: { done: 2, total: 3 } });
    }
    const redriven = part(2, { attempt: 1, at: T0 + 90_000 });
    for (const order of deliveries([part(1), failed, part(3), redriven])) {
      const s = fold({ facts: merged, acks: [...order, ...esParts] });
      expect(s.status).toBe('complete');
      expect(s.targets[0]).toMatchObject({ state: 'applied', affected: 6000, at: T0 + 90_000 });
    }
    // A failure of one part after every part succeeded is a failure again.
    const lateFailure = part(1, { outcome: 'FAILED', affected: 0, at: T0 + 99_000, error: 'residual 1' });
    expect(fold({ facts: merged, acks: [part(1), part(2), part(3), lateFailure, ...esParts] }).status).toBe('failed');
  });

  it('a deferred part leaves the target deferred; the timeline names each part', () => {
    const deferred = part(3, { outcome: 'DEFERRED', affected: 0, error: 'streaming buffer' });
    const s = fold({ facts: merged, acks: [part(1), part(2), deferred, ...esParts] });
    expect(s.status).toBe('deferred');
    expect(s.targets[0]).toMatchObject({ state: 'deferred', error: 'streaming buffer' });
    expect(s.timeline.filter((e) => e.what === 'ack' && e.sink === 'redis').map((e) => e.part)).toEqual([1, 2, 3]);
  });
});
