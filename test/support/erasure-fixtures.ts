import type { AckRecord, ErasureFacts, ExpectedTarget } from '../../src/tracker/erasure-status.js';

/**
 * The erasure the tracker's folding tests fold: user 42 deleted from shop.users at T0, expected
 * in a Redis key and an Elasticsearch index, and the acks of its targets.
 *
 *   const s = foldErasure({ facts: userFacts, expected: userTargets, acks: [userAck({ at: T0 + 2000 })], ... });
 */
export const HOUR = 3_600_000;
export const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

export const redisTarget = { sink: 'redis', target: 'key user:{subject}' };
export const esTarget = { sink: 'elasticsearch', target: 'index users' };
export const userTargets: ExpectedTarget[] = [
  { kind: 'sink', ...redisTarget, action: 'delete' },
  { kind: 'sink', ...esTarget, action: 'delete' },
];

/** User 42's erasure, made by no privacy request. */
export const userFacts: ErasureFacts = {
  eventId: 'e-1',
  subjectType: 'user',
  subjectId: '42',
  requestId: null,
  operation: 'DELETE',
  sourceTable: 'shop.users',
  commitLsn: '0/16B3748',
  commitTime: T0,
  related: [],
};

type AckResult = Pick<AckRecord, 'outcome' | 'affected' | 'residual' | 'attempt' | 'replay' | 'error' | 'details'>;

/** What an ack says that removed one copy at its first attempt, live (no replay), nothing more. */
export const appliedOnce = (): AckResult => ({ outcome: 'APPLIED', affected: 1, residual: 0, attempt: 1, replay: false, error: null, details: {} });

/** An ack of user 42's erasure by its Redis target, APPLIED one second after T0, but for `over`. */
export const userAck = (over: Partial<AckRecord> = {}): AckRecord => ({
  eventId: 'e-1',
  subjectType: 'user',
  subjectId: '42',
  ...redisTarget,
  ...appliedOnce(),
  at: T0 + 1000,
  ...over,
});
