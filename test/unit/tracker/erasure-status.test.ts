import { describe, expect, it } from 'vitest';
import { appliedOnce, HOUR, T0 } from '../../support/erasure-fixtures.js';
import { permutations } from '../../support/permutations.js';
import { buildReport } from '../../../src/tracker/proof-report.js';
import { foldErasure, nextChangeAt, type AckRecord, type ErasureFacts, type ExpectedTarget, type FoldInput } from '../../../src/tracker/erasure-status.js';

const facts: ErasureFacts = {
  eventId: 'e-1',
  subjectType: 'customer',
  subjectId: '7f1c',
  requestId: null,
  operation: 'DELETE',
  sourceTable: '"Sales"."Customer"',
  commitLsn: '0/16B3748',
  commitTime: T0,
  related: [],
};
const expected: ExpectedTarget[] = [
  { kind: 'sink', sink: 'redis', target: 'key cust:{subject}', action: 'delete' },
  { kind: 'sink', sink: 'elasticsearch', target: 'index crm-*', action: 'delete' },
];
const ack = (over: Partial<AckRecord>): AckRecord => ({
  eventId: 'e-1',
  subjectType: 'customer',
  subjectId: '7f1c',
  sink: 'redis',
  target: 'key cust:{subject}',
  ...appliedOnce(),
  at: T0 + 1000,
  ...over,
});
const fold = (over: Partial<FoldInput>) => foldErasure({ facts, expected, acks: [], confirmations: [], slaMs: 72 * HOUR, now: T0 + 5000, ...over });


describe('foldErasure', () => {
  it('is pending with every target pending before any ack', () => {
    const s = fold({});
    expect(s.status).toBe('pending');
    expect(s.targets.map((t) => t.state)).toEqual(['pending', 'pending']);
    expect(s.dueAt).toBe(T0 + 72 * HOUR);
    expect(s.completedAt).toBeNull();
  });

  it('is partial while some targets are acknowledged, complete when all are', () => {
    expect(fold({ acks: [ack({})] }).status).toBe('partial');
    const done = fold({ acks: [ack({}), ack({ sink: 'elasticsearch', target: 'index crm-*', outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 3000 })] });
    expect(done.status).toBe('complete');
    expect(done.completedAt).toBe(T0 + 3000);
    expect(done.counts).toEqual({ targets: 2, done: 2, pending: 0, failed: 0, deferred: 0, held: 0 });
  });

  it('gives the same status whatever the order and however often acks arrive', () => {
    const acks = [
      ack({ outcome: 'DEFERRED', attempt: 1, at: T0 + 1000 }),
      ack({ outcome: 'APPLIED', attempt: 2, at: T0 + 9000 }),
      ack({ sink: 'elasticsearch', target: 'index crm-*', outcome: 'FAILED', residual: 2, attempt: 1, at: T0 + 1500 }),
      ack({ sink: 'elasticsearch', target: 'index crm-*', outcome: 'APPLIED', affected: 2, attempt: 2, at: T0 + 2500 }),
    ];
    const reference = JSON.stringify(fold({ acks }));
    for (const order of permutations(acks)) {
      expect(JSON.stringify(fold({ acks: [...order, order[0]!, order[2]!] }))).toBe(reference);
    }
    expect(JSON.parse(reference).status).toBe('complete');
  });

  it('what happened later decides, not the attempt number nor the arrival', () => {
    for (const order of permutations([ack({ attempt: 3, outcome: 'APPLIED', at: T0 + 100 }), ack({ attempt: 1, outcome: 'FAILED', residual: 1, at: T0 + 9000 })])) {
      expect(fold({ acks: order }).targets[0]!.state).toBe('failed');
    }
  });

  it('a redelivery that finds nothing left keeps the proof of what was erased', () => {
    const es = { sink: 'elasticsearch', target: 'index crm-*' };
    const acks = [
      ack({ outcome: 'APPLIED', affected: 3, at: T0 + 1000 }),
      // The same event, redelivered after a restart before its offset was committed.
      ack({ outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 4000 }),
      ack({ ...es, outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 2000 }),
    ];
    for (const order of permutations(acks)) {
      const s = fold({ acks: order });
      expect(s.status).toBe('complete');
      expect(s.targets[0]).toMatchObject({ state: 'applied', affected: 3, at: T0 + 1000 });
      expect(s.targets[1]).toMatchObject({ state: 'nothing_to_do', affected: 0 });
      expect(s.completedAt).toBe(T0 + 2000);
      expect(buildReport(s, T0 + 5000).targets[0]).toMatchObject({ done: 'deleted 3 keys' });
    }
    // A redelivery in a later attempt (the first try of it failed) does not hide it either.
    expect(fold({ acks: [acks[0]!, ack({ outcome: 'NOTHING_TO_DO', affected: 0, attempt: 2, at: T0 + 4000 })] }).targets[0]).toMatchObject({ state: 'applied', affected: 3 });
  });

  it('a later failed or deferred ack still replaces an applied one', () => {
    const applied = ack({ outcome: 'APPLIED', affected: 3, at: T0 + 1000 });
    for (const outcome of ['FAILED', 'DEFERRED'] as const) {
      const later = ack({ outcome, affected: 0, residual: 1, at: T0 + 4000, error: 'store unavailable' });
      for (const order of permutations([applied, later, ack({ outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 3000 })])) {
        expect(fold({ acks: order }).targets[0]).toMatchObject({ state: outcome.toLowerCase(), error: 'store unavailable' });
      }
    }
    // Succeeding again after a failure makes it done, with the erasing ack as its proof.
    const s = fold({ acks: [applied, ack({ outcome: 'FAILED', affected: 0, at: T0 + 2000 }), ack({ outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 3000 })] });
    expect(s.targets[0]).toMatchObject({ state: 'applied', affected: 3 });
  });

  it('is failed when a target failed, naming its error', () => {
    const s = fold({ acks: [ack({ outcome: 'FAILED', affected: 0, residual: 3, error: 'verification found 3 remaining after applying' })] });
    expect(s.status).toBe('failed');
    expect(s.targets[0]!.error).toMatch(/3 remaining/);
  });

  it("a '*' ack (an undecodable record, a batch failing every attempt) speaks for every target of its sink", () => {
    const expectedTwo: ExpectedTarget[] = [...expected, { kind: 'sink', sink: 'redis', target: 'hash h field {subject}', action: 'delete' }];
    const s = fold({ expected: expectedTwo, acks: [ack({ target: '*', outcome: 'FAILED', affected: 0, error: 'failed after 6 attempts' })] });
    expect(s.targets.filter((t) => t.sink === 'redis').map((t) => t.state)).toEqual(['failed', 'failed']);
    expect(s.targets.find((t) => t.sink === 'elasticsearch')!.state).toBe('pending');
  });

  it('is deferred while a store cannot change the data yet, overdue once past the SLA', () => {
    const acks = [ack({ outcome: 'DEFERRED', affected: 0, error: 'streaming buffer' })];
    expect(fold({ acks }).status).toBe('deferred');
    expect(fold({ acks, now: T0 + 72 * HOUR }).status).toBe('overdue');
    expect(fold({ acks, slaMs: 1000, now: T0 + 1000 }).status).toBe('overdue');
  });

  it('an overdue erasure becomes complete when its last target is acknowledged', () => {
    const acks = [ack({}), ack({ sink: 'elasticsearch', target: 'index crm-*', at: T0 + 80 * HOUR })];
    const s = fold({ acks, now: T0 + 90 * HOUR });
    expect(s.status).toBe('complete');
    expect(s.completedAt).toBe(T0 + 80 * HOUR);
  });

  it('a manual system keeps it partial until its owner confirms, once', () => {
    const withManual: ExpectedTarget[] = [...expected, { kind: 'manual', sink: 'manual', target: 'support-inbox', owner: 'support@corp.example', action: 'redact tickets' }];
    const acks = [ack({}), ack({ sink: 'elasticsearch', target: 'index crm-*' })];
    expect(fold({ expected: withManual, acks }).status).toBe('partial');
    const confirmations = [
      { eventId: 'e-1', system: 'support-inbox', by: 'lee', note: 'redacted 2 tickets', at: T0 + 7000 },
      { eventId: 'e-1', system: 'support-inbox', by: 'kim', note: 'again', at: T0 + 8000 },
    ];
    const s = fold({ expected: withManual, acks, confirmations: [...confirmations].reverse() });
    expect(s.status).toBe('complete');
    const manual = s.targets.find((t) => t.kind === 'manual')!;
    expect(manual).toMatchObject({ state: 'confirmed', confirmedBy: 'lee', note: 'redacted 2 tickets', at: T0 + 7000 });
    expect(s.timeline.filter((e) => e.what === 'confirmed')).toHaveLength(2);
  });

  it('a backup never blocks completion; it states until when it holds the data', () => {
    const withBackup: ExpectedTarget[] = [...expected, { kind: 'backup', sink: 'backup', target: 'pg-nightly', retentionMs: 30 * 24 * HOUR }];
    const acks = [ack({}), ack({ sink: 'elasticsearch', target: 'index crm-*' })];
    const s = fold({ expected: withBackup, acks });
    expect(s.status).toBe('complete');
    expect(s.targets.find((t) => t.kind === 'backup')).toMatchObject({ state: 'retained', heldUntil: T0 + 30 * 24 * HOUR });
    expect(fold({ expected: withBackup, acks, now: T0 + 31 * 24 * HOUR }).targets.find((t) => t.kind === 'backup')!.state).toBe('expired');
  });

  it('knows when it next changes with time alone: the SLA while open, each backup while it holds the data', () => {
    const withBackup: ExpectedTarget[] = [...expected, { kind: 'backup', sink: 'backup', target: 'pg-nightly', retentionMs: 30 * 24 * HOUR }];
    const open = fold({ expected: withBackup });
    expect(nextChangeAt(open, T0 + 5000)).toBe(T0 + 72 * HOUR);
    const acks = [ack({}), ack({ sink: 'elasticsearch', target: 'index crm-*' })];
    const done = fold({ expected: withBackup, acks });
    expect(nextChangeAt(done, T0 + 5000)).toBe(T0 + 30 * 24 * HOUR);
    const overdue = fold({ expected: withBackup, now: T0 + 73 * HOUR });
    expect(overdue.status).toBe('overdue');
    expect(nextChangeAt(overdue, T0 + 73 * HOUR)).toBe(T0 + 30 * 24 * HOUR);
    const expired = fold({ expected: withBackup, acks, now: T0 + 31 * 24 * HOUR });
    expect(nextChangeAt(expired, T0 + 31 * 24 * HOUR)).toBeNull();
    expect(nextChangeAt(fold({ acks }), T0 + 5000)).toBeNull();
    // A stored status read after its backup expired reads as expired, whatever it says.
    expect(buildReport(done, T0 + 31 * 24 * HOUR).backups[0]!.done).toBe('expired on 2026-12-20');
  });

  it('replay acks are recorded beside the live outcome, never replacing it', () => {
    const acks = [ack({}), ack({ replay: true, outcome: 'APPLIED', affected: 4, at: T0 + 50 * HOUR }), ack({ replay: true, outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 60 * HOUR })];
    const t = fold({ acks }).targets[0]!;
    expect(t).toMatchObject({ state: 'applied', affected: 1, replays: 2, lastReplay: { outcome: 'NOTHING_TO_DO', at: T0 + 60 * HOUR } });
  });

  it('a replay into a store that is no active target (the restored primary) is listed, not counted', () => {
    const acks = [ack({}), ack({ sink: 'elasticsearch', target: 'index crm-*' }), ack({ sink: 'primary', target: 'table sales.customer', replay: true, affected: 1, at: T0 + 40 * HOUR })];
    const s = fold({ acks, now: T0 + 41 * HOUR });
    expect(s.status).toBe('complete');
    expect(s.counts.targets).toBe(2);
    expect(s.targets.find((t) => t.sink === 'primary')).toMatchObject({ kind: 'replay', state: 'applied', replays: 1, affected: 1 });
  });

  it('an undecodable record every sink dead-lettered is failed, not pending forever', () => {
    const poison = ack({ eventId: 'undecodable:erasures/2/17', target: '*', outcome: 'FAILED', affected: 0, error: 'undecodable record: unknown magic byte' });
    const s = foldErasure({ facts: null, expected: [], acks: [poison], confirmations: [], slaMs: HOUR, now: T0 });
    expect(s).toMatchObject({ status: 'failed', known: false, eventId: 'undecodable:erasures/2/17' });
  });

  it('acks read before their erasure event leave it pending and unknown', () => {
    const s = foldErasure({ facts: null, expected: [], acks: [ack({})], confirmations: [], slaMs: HOUR, now: T0 });
    expect(s).toMatchObject({ status: 'pending', known: false, eventId: 'e-1', subjectType: 'customer', dueAt: null });
    expect(s.targets[0]).toMatchObject({ unexpected: true, state: 'applied' });
  });
});
