import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ChunkOutcome, REPLAY, type ChunkItem } from '../../../consumers/chunk-outcome.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';

const NOW = 1_700_000_000_000;
const message = (headers: KafkaMessage['headers'] = {}) => ({ key: Buffer.from('user:42'), value: Buffer.from('avro'), offset: '5', headers, timestamp: '0', attributes: 0, size: 0 }) as unknown as KafkaMessage;
const item = (event: Partial<SubjectErased> = {}, headers: KafkaMessage['headers'] = {}): ChunkItem => ({
  message: message(headers),
  topic: 'lethe.subject-erased',
  partition: 0,
  event: { eventId: 'ev-1', subjectType: 'user', subjectId: '42', part: 2, parts: 3, requestId: 'req_x', ...event } as SubjectErased,
});
const outcome = (replay = false) => new ChunkOutcome({ sink: 'redis', replay, deferredRetryMs: 1000, now: () => NOW });
const hold = { id: 'hold_aaaa', basis: 'litigation', reviewAt: '2027-06-30' };

describe('ChunkOutcome.held', () => {
  it('acks every target of the sink HELD with the hold, and neither defers nor dead-letters', () => {
    const o = outcome();
    o.held(item(), ['key user:{subject}', 'hash sessions field {subject}'], hold, 3);
    expect(o.acks.map((a) => [a.target, a.outcome, a.affected, a.residual, a.attempt, a.part, a.parts, a.requestId, a.error, a.at])).toEqual([
      ['key user:{subject}', 'HELD', 0, 0, 3, 2, 3, 'req_x', null, NOW],
      ['hash sessions field {subject}', 'HELD', 0, 0, 3, 2, 3, 'req_x', null, NOW],
    ]);
    expect(o.acks[0]!.details).toEqual({ hold: 'hold_aaaa', basis: 'litigation', review: '2027-06-30' });
    expect(o.dead).toEqual([]);
    expect(o.later).toEqual([]);
    expect(o.count('HELD')).toBe(2);
  });

  it('acks the whole sink when it names no targets, and keeps the replay flag', () => {
    const o = outcome();
    o.held(item({}, { [REPLAY]: '1' }), [], hold, 1);
    expect(o.acks.map((a) => [a.target, a.outcome, a.replay])).toEqual([['*', 'HELD', true]]);
  });

  it('copies the request id into every ack, null when the event has none', () => {
    const o = outcome();
    o.applied(item({ requestId: null }), [{ target: 'key user:{subject}', affected: 1, residual: 0 }], 1);
    o.applied(item(), [{ target: 'key user:{subject}', affected: 1, residual: 0 }], 1);
    expect(o.acks.map((a) => a.requestId)).toEqual([null, 'req_x']);
  });
});
