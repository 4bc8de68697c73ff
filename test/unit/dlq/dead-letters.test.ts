import type { IHeaders, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ATTEMPT, DLQ_AT, DLQ_EVENT, DLQ_REASON, DLQ_SINK, DLQ_SOURCE } from '../../../consumers/chunk-outcome.js';
import { NOT_BEFORE } from '../../../consumers/retry-gate.js';
import { deadLetterOf, redriveMessage } from '../../../src/dlq/dead-letters.js';

function message(offset: string, headers: KafkaMessage['headers'], key: string | null = 'user:42'): KafkaMessage {
  return { key: key === null ? null : Buffer.from(key), value: Buffer.from('avro bytes'), offset, headers, timestamp: '0', attributes: 0, size: 0 } as unknown as KafkaMessage;
}

const letterHeaders = {
  [DLQ_SINK]: Buffer.from('redis'),
  [DLQ_REASON]: Buffer.from('key user:{subject}: WRONGTYPE'),
  [DLQ_SOURCE]: Buffer.from('lethe.subject-erased/3/17'),
  [DLQ_AT]: Buffer.from('1700000000000'),
  [DLQ_EVENT]: Buffer.from('ev-1'),
  [NOT_BEFORE]: Buffer.from('1600000000000'),
  [ATTEMPT]: Buffer.from('3'),
  'x-trace': Buffer.from('abc'),
};

describe('deadLetterOf', () => {
  it('reads ids, the subject key, the reason, time and source from the headers, never the value', () => {
    const letter = deadLetterOf(message('4', letterHeaders), 0n);
    expect(letter).toEqual({
      offset: '4',
      eventId: 'ev-1',
      subject: 'user:42',
      reason: 'key user:{subject}: WRONGTYPE',
      at: 1_700_000_000_000,
      source: 'lethe.subject-erased/3/17',
      redriven: false,
    });
    expect(JSON.stringify(letter)).not.toContain('avro bytes');
  });

  it('is redriven when before the redrive cursor, and not from the cursor on', () => {
    expect(deadLetterOf(message('4', letterHeaders), 5n).redriven).toBe(true);
    expect(deadLetterOf(message('5', letterHeaders), 5n).redriven).toBe(false);
    // Offsets compare as numbers: 10 is past a cursor of 9.
    expect(deadLetterOf(message('10', letterHeaders), 9n).redriven).toBe(false);
  });

  it('an undecodable record has no event id; missing headers read as empty or null; a header list reads its first', () => {
    expect(deadLetterOf(message('0', {}, null), 0n)).toEqual({ offset: '0', eventId: null, subject: '', reason: '', at: null, source: '', redriven: false });
    expect(deadLetterOf(message('0', { [DLQ_REASON]: [Buffer.from('first'), Buffer.from('second')] }), 0n).reason).toBe('first');
    expect(deadLetterOf(message('0', { [DLQ_REASON]: 'as string' }), 0n).reason).toBe('as string');
  });
});

describe('redriveMessage', () => {
  const NOW = 1_800_000_000_000;

  it('keeps the key, the value and other headers; drops the dead-letter headers and the old not-before', () => {
    const original = message('4', letterHeaders);
    const sent = redriveMessage(original, 'lethe.subject-erased.dlq.redis', NOW);
    expect(sent.key).toBe(original.key);
    expect(sent.value).toBe(original.value);
    expect(Object.keys(sent.headers).sort()).toEqual([ATTEMPT, DLQ_EVENT, NOT_BEFORE, 'lethe-redriven-from', 'x-trace'].sort());
    expect(sent.headers[NOT_BEFORE]).toBe(String(NOW));
    expect(sent.headers['lethe-redriven-from']).toBe('lethe.subject-erased.dlq.redis/0/4');
    const headers: IHeaders = sent.headers;
    expect(headers['x-trace']).toEqual(Buffer.from('abc'));
    expect(headers[DLQ_EVENT]).toEqual(Buffer.from('ev-1'));
  });

  it('is due at once and names only its latest origin when re-driven twice', () => {
    const once = redriveMessage(message('4', letterHeaders), 'd', NOW);
    const twice = redriveMessage(message('9', once.headers), 'd', NOW + 1);
    expect(twice.headers[NOT_BEFORE]).toBe(String(NOW + 1));
    expect(twice.headers['lethe-redriven-from']).toBe('d/0/9');
  });

  it('works for a record without headers', () => {
    const sent = redriveMessage(message('0', undefined), 'd', NOW);
    expect(sent.headers).toEqual({ [NOT_BEFORE]: String(NOW), 'lethe-redriven-from': 'd/0/0' });
  });
});
