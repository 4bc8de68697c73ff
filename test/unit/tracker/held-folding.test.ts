import { describe, expect, it } from 'vitest';
import { HOUR, T0, userAck, userFacts, userTargets } from '../../support/erasure-fixtures.js';
import { permutations } from '../../support/permutations.js';
import { buildReport, renderReport, summaryLine } from '../../../src/tracker/proof-report.js';
import { foldErasure, nextChangeAt, STATE_URGENCY, type AckRecord, type ErasureFacts, type FoldInput } from '../../../src/tracker/erasure-status.js';

const facts: ErasureFacts = { ...userFacts, requestId: 'req_abc' };
const expected = userTargets;
const hold = { hold: 'hold_aaaa', basis: 'litigation, case 2026-114', review: '2027-06-30' };
const ack = (over: Partial<AckRecord>): AckRecord => userAck({ requestId: 'req_abc', ...over });
const heldAck = ack({ outcome: 'HELD', affected: 0, details: hold, at: T0 + 1000 });
const esDone = ack({ sink: 'elasticsearch', target: 'index users', at: T0 + 1500 });
const fold = (over: Partial<FoldInput>) => foldErasure({ facts, expected, acks: [], confirmations: [], slaMs: 72 * HOUR, now: T0 + 5000, ...over });

describe('folding HELD acks', () => {
  it('makes the target held (settled, not open, not failed) and the erasure held once the rest is done', () => {
    const partial = fold({ acks: [heldAck] });
    expect(partial.targets.find((t) => t.sink === 'redis')!.state).toBe('held');
    expect(partial.status).toBe('pending');
    const held = fold({ acks: [heldAck, esDone] });
    expect(held.status).toBe('held');
    expect(held.counts).toEqual({ targets: 2, done: 1, pending: 0, failed: 0, deferred: 0, held: 1 });
    expect(held.completedAt).toBeNull();
    expect(held.targets.find((t) => t.sink === 'redis')!.details).toEqual(hold);
    // Settled: it never turns overdue and needs no time-driven refold.
    expect(fold({ acks: [heldAck, esDone], now: T0 + 100 * HOUR }).status).toBe('held');
    expect(nextChangeAt(held, T0 + 5000)).toBeNull();
    expect(STATE_URGENCY.held).toBeGreaterThan(STATE_URGENCY.partial);
    expect(STATE_URGENCY.held).toBeLessThan(STATE_URGENCY.complete);
  });

  it('is superseded by the later ack of the redelivery after the release, whatever the arrival order', () => {
    const applied = ack({ at: T0 + 9000 });
    for (const acks of permutations([heldAck, esDone, applied])) {
      const s = fold({ acks });
      expect(s.status).toBe('complete');
      expect(s.targets.find((t) => t.sink === 'redis')!.state).toBe('applied');
    }
    expect(fold({ acks: [heldAck, esDone, ack({ outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 9000 })] }).status).toBe('complete');
  });

  it('a failure elsewhere still fails the erasure; a part not yet acknowledged keeps it pending', () => {
    expect(fold({ acks: [heldAck, ack({ sink: 'elasticsearch', target: 'index users', outcome: 'FAILED', error: 'mapping' })] }).status).toBe('failed');
    const twoParts = { ...facts, parts: 2 };
    const part1 = { ...heldAck, part: 1, parts: 2 };
    const s = fold({ facts: twoParts, acks: [part1, { ...esDone, part: 1, parts: 2 }, { ...esDone, part: 2, parts: 2 }] });
    expect(s.targets.find((t) => t.sink === 'redis')!.state).toBe('pending');
    const both = fold({ facts: twoParts, acks: [part1, { ...heldAck, part: 2, parts: 2 }, { ...esDone, part: 1, parts: 2 }, { ...esDone, part: 2, parts: 2 }] });
    expect(both.status).toBe('held');
  });

  it('keeps the hold and the request id of acks in the timeline', () => {
    const entry = fold({ acks: [heldAck] }).timeline.find((e) => e.what === 'ack')!;
    expect(entry).toMatchObject({ outcome: 'HELD', hold: 'hold_aaaa', requestId: 'req_abc' });
  });
});

describe('the proof of a held erasure', () => {
  const held = fold({ acks: [heldAck, esDone] });

  it('names each held target with the hold id, basis and review date, and never says removed', () => {
    const report = buildReport(held, T0 + 5000);
    expect(report.summary).toBe('Not erased everywhere: kept under legal hold in redis key user:{subject} (hold hold_aaaa, "litigation, case 2026-114", review 2027-06-30); 1 of 2 targets done.');
    expect(report.summary).not.toMatch(/removed/i);
    expect(report.held).toEqual([
      { system: 'redis', target: 'key user:{subject}', done: 'kept under legal hold hold_aaaa: litigation, case 2026-114', when: new Date(T0 + 1000).toISOString(), verification: 'not erased; the hold is reviewed on 2027-06-30' },
    ]);
    expect(report.targets.find((r) => r.system === 'redis')!.done).toBe('not erased: kept under legal hold hold_aaaa');
    const md = renderReport(report, 'md');
    expect(md).toContain('## Kept under legal hold');
    expect(md).toContain('| redis | key user:{subject} | kept under legal hold hold_aaaa: litigation, case 2026-114 |');
    expect(renderReport(report, 'html')).toContain('<h2>Kept under legal hold</h2>');
  });

  it('lists tables the executor kept under a hold, and then a complete erasure is not "removed" either', () => {
    const complete = fold({ acks: [ack({}), esDone] });
    expect(summaryLine(complete, T0 + 5000)).toMatch(/^Removed from all active systems/);
    const extras = { heldTables: [{ table: 'shop.invoices', hold: { id: 'hold_bbbb', basis: 'tax audit 2026', reviewAt: '2028-01-31' } }] };
    const report = buildReport(complete, T0 + 5000, extras);
    expect(report.summary).toBe('Not erased everywhere: kept under legal hold in shop.invoices (hold hold_bbbb, "tax audit 2026", review 2028-01-31); 2 of 2 targets done.');
    expect(report.held).toEqual([{ system: 'primary', target: 'table shop.invoices', done: 'kept under legal hold hold_bbbb: tax audit 2026', when: null, verification: 'not erased; the hold is reviewed on 2028-01-31' }]);
  });
});
