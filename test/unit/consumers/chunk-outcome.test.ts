import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ATTEMPT, ChunkOutcome, DLQ_AT, DLQ_EVENT, DLQ_REASON, DLQ_SINK, DLQ_SOURCE, REPLAY, type ChunkItem } from '../../../consumers/chunk-outcome.js';
import { NOT_BEFORE } from '../../../consumers/retry-gate.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';

const NOW = 1_700_000_000_000;
const DEFERRED_RETRY_MS = 600_000;

function message(offset: string, headers: KafkaMessage['headers'] = {}, key = 'user:42'): KafkaMessage {
  return { key: Buffer.from(key), value: Buffer.from('avro bytes'), offset, headers, timestamp: '0', attributes: 0, size: 0 } as unknown as KafkaMessage;
}

function event(overrides: Partial<SubjectErased> = {}): SubjectErased {
  return { eventId: 'ev-1', subjectType: 'user', subjectId: '42', part: 1, parts: 1, ...overrides } as SubjectErased;
}

function item(overrides: Partial<ChunkItem> = {}): ChunkItem {
  return { message: message('17'), topic: 'lethe.subject-erased', partition: 3, event: event(), ...overrides };
}

const outcome = (replay = false) => new ChunkOutcome({ sink: 'redis', replay, deferredRetryMs: DEFERRED_RETRY_MS, now: () => NOW });
const text = (value: unknown) => (value === undefined ? undefined : String(value));

describe('ChunkOutcome', () => {
  it('acks each target of an applied event with its outcome, and sends nothing elsewhere', () => {
    const o = outcome();
    o.applied(item(), [
      { target: 'key user:{subject}', affected: 1, residual: 0 },
      { target: 'hash sessions', affected: 0, residual: 0 },
    ], 2);
    expect(o.acks.map((a) => [a.target, a.outcome, a.attempt, a.sink, a.eventId, a.replay, a.at, a.error])).toEqual([
      ['key user:{subject}', 'APPLIED', 2, 'redis', 'ev-1', false, NOW, null],
      ['hash sessions', 'NOTHING_TO_DO', 2, 'redis', 'ev-1', false, NOW, null],
    ]);
    expect(o.dead).toEqual([]);
    expect(o.later).toEqual([]);
    expect(o.count('APPLIED')).toBe(1);
    expect(o.count('FAILED')).toBe(0);
  });

  it('copies part i of n onto every ack; an event from before parts is part 1 of 1', () => {
    const o = outcome();
    o.applied(item({ event: event({ part: 2, parts: 3 }) }), [{ target: 't', affected: 1, residual: 0 }], 1);
    o.applied(item({ event: event({ part: undefined, parts: undefined } as never) }), [{ target: 't', affected: 1, residual: 0 }], 1);
    expect(o.acks.map((a) => [a.part, a.parts])).toEqual([
      [2, 3],
      [1, 1],
    ]);
  });

  it('a deferred target sends the record to try later: due after deferredRetryMs, the next attempt, no replay flag outside a replay', () => {
    const o = outcome();
    const original = item({ message: message('17', { [NOT_BEFORE]: '1', 'x-other': 'dropped' }) });
    o.applied(original, [{ target: 'table t', affected: 0, residual: 0, deferred: 'streaming buffer' }], 3);
    expect(o.count('DEFERRED')).toBe(1);
    expect(o.dead).toEqual([]);
    expect(o.later).toHaveLength(1);
    const [later] = o.later;
    expect(later!.key).toEqual(original.message.key);
    expect(later!.value).toEqual(original.message.value);
    expect(later!.headers).toEqual({ [NOT_BEFORE]: String(NOW + DEFERRED_RETRY_MS), [ATTEMPT]: '4' });
  });

  it('a replay marks its acks and its deferrals, and a record a replay deferred stays a replay in a live run', () => {
    const replaying = outcome(true);
    replaying.applied(item(), [{ target: 't', affected: 0, residual: 0, deferred: 'later' }], 1);
    expect(replaying.acks[0]!.replay).toBe(true);
    expect(replaying.later[0]!.headers![REPLAY]).toBe('1');

    const live = outcome(false);
    const deferredByReplay = item({ message: message('18', { [REPLAY]: Buffer.from('1') }) });
    expect(live.isReplay(deferredByReplay)).toBe(true);
    expect(live.isReplay(item())).toBe(false);
    live.applied(deferredByReplay, [{ target: 't', affected: 0, residual: 0, deferred: 'later' }], 2);
    expect(live.acks[0]!.replay).toBe(true);
    expect(live.later[0]!.headers![REPLAY]).toBe('1');
  });

  it('a failed target dead-letters the record with the reason, the source and the event id, and acks FAILED', () => {
    const o = outcome();
    const failing = item({ message: message('17', { 'x-trace': 'abc' }) });
    o.applied(failing, [
      { target: 'index users', affected: 0, residual: 0, failed: 'mapper_parsing_exception' },
      { target: 'index orders', affected: 0, residual: 2 },
      { target: 'index carts', affected: 1, residual: 0 },
    ], 1);
    expect(o.acks.map((a) => a.outcome)).toEqual(['FAILED', 'FAILED', 'APPLIED']);
    expect(o.later).toEqual([]);
    expect(o.dead).toHaveLength(1);
    const [dead] = o.dead;
    expect(dead!.key).toEqual(failing.message.key);
    expect(dead!.value).toEqual(failing.message.value);
    expect(text(dead!.headers![DLQ_REASON])).toBe('index users: mapper_parsing_exception; index orders: verification found 2 remaining after applying');
    expect(text(dead!.headers![DLQ_SOURCE])).toBe('lethe.subject-erased/3/17');
    expect(text(dead!.headers![DLQ_SINK])).toBe('redis');
    expect(text(dead!.headers![DLQ_AT])).toBe(String(NOW));
    expect(text(dead!.headers![DLQ_EVENT])).toBe('ev-1');
    expect(text(dead!.headers!['x-trace'])).toBe('abc');
  });

  it('a redriven record failing again carries only the new reason, source and time, and is not held back by its old not-before', () => {
    const o = outcome();
    const redriven = item({
      topic: 'lethe.subject-erased.retry.redis',
      partition: 0,
      message: message('5', {
        [DLQ_REASON]: 'old reason',
        [DLQ_SOURCE]: 'lethe.subject-erased/1/2',
        [DLQ_AT]: '1',
        [DLQ_SINK]: 'redis',
        [NOT_BEFORE]: '123',
      }),
    });
    o.refused(redriven, 'ERR wrong kind of value', 2);
    const headers = o.dead[0]!.headers!;
    expect(text(headers[DLQ_REASON])).toBe('ERR wrong kind of value');
    expect(text(headers[DLQ_SOURCE])).toBe('lethe.subject-erased.retry.redis/0/5');
    expect(text(headers[DLQ_AT])).toBe(String(NOW));
    expect(headers[NOT_BEFORE]).toBeUndefined();
    expect(o.acks).toHaveLength(1);
    expect(o.acks[0]).toMatchObject({ target: '*', outcome: 'FAILED', error: 'ERR wrong kind of value', attempt: 2, eventId: 'ev-1' });
  });

  it('cuts a long reason to 2000 characters', () => {
    const o = outcome();
    o.refused(item(), 'x'.repeat(5000), 1);
    expect(text(o.dead[0]!.headers![DLQ_REASON])).toHaveLength(2000);
  });

  it('an undecodable record is dead-lettered and acked FAILED under a synthetic id naming where it was read', () => {
    const o = outcome();
    const bad = item({ event: undefined, decodeError: 'not a schema-registry framed record', message: message('99', {}, 'user:tenant:42') });
    o.undecodable(bad);
    expect(o.acks).toHaveLength(1);
    expect(o.acks[0]).toMatchObject({
      eventId: 'undecodable:lethe.subject-erased/3/99',
      subjectType: 'user',
      subjectId: 'tenant:42',
      outcome: 'FAILED',
      target: '*',
      attempt: 1,
      part: 1,
      parts: 1,
    });
    expect(o.acks[0]!.error).toBe('undecodable record: not a schema-registry framed record');
    const headers = o.dead[0]!.headers!;
    expect(text(headers[DLQ_REASON])).toBe('undecodable record: not a schema-registry framed record');
    expect(text(headers[DLQ_SOURCE])).toBe('lethe.subject-erased/3/99');
    expect(headers[DLQ_EVENT]).toBeUndefined();
  });

  it('an undecodable record without a key is acked under subject type unknown', () => {
    const o = outcome();
    o.undecodable(item({ event: undefined, decodeError: 'x', message: { ...message('1'), key: null } }));
    expect(o.acks[0]).toMatchObject({ subjectType: 'unknown', subjectId: '', eventId: 'undecodable:lethe.subject-erased/3/1' });
  });
});
