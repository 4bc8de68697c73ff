import { describe, expect, it } from 'vitest';
import { keyValueOf } from '../../connectors/compacted-key-format.js';
import { keyFormatMismatch, TombstoneLedger, verdictOf, type WrittenTombstone } from '../../connectors/compacted-verification.js';

const framed = (id: number, rest: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), Buffer.from(rest)]);
const key = (text: string) => Buffer.from(text);
const complete = () => ({ complete: true as const, history: true as const });

describe('compacted tombstone ledger', () => {
  const tombstone = (k: string, offset: bigint): WrittenTombstone => ({ topic: 't', partition: 0, offset, key: key(k) });

  it('affected means a value before the tombstone; residual means a value as the latest record after it', () => {
    const ledger = new TombstoneLedger();
    const ts = [tombstone('42', 5n), tombstone('43', 6n), tombstone('44', 7n)];
    for (const t of ts) ledger.add(t);
    ledger.observe('t', 0, 1n, key('42'), key('v'));
    ledger.observe('t', 0, 2n, key('43'), null);
    for (const t of ts) ledger.observe('t', 0, t.offset, t.key, null);
    ledger.observe('t', 0, 8n, key('44'), key('written again'));
    ledger.observe('t', 0, 9n, key('42'), key('again'));
    ledger.observe('t', 0, 10n, key('42'), null);
    expect(verdictOf(ts, ledger, complete, 0)).toEqual({ affected: 1, residual: 1, details: { tombstones: '3', verified: '2' } });
  });

  it('a partition not read to its end is not verified, and its history unknown', () => {
    const ledger = new TombstoneLedger();
    const t = tombstone('42', 5n);
    ledger.add(t);
    const verdict = verdictOf([t], ledger, () => ({ complete: false, reason: 't/0 was not read back' }), 0);
    expect(verdict).toEqual({ affected: 0, residual: 0, details: { tombstones: '1', verified: '0', 'not-verified': 't/0 was not read back', 'affected-unknown': 't/0 was not read back' } });
  });

  it('keys in another serialization than declared are named; framed keys under other schema ids are kept aside', () => {
    const ledger = new TombstoneLedger();
    ledger.add({ topic: 't', partition: 0, offset: 3n, key: framed(7, 'a') });
    ledger.observe('t', 0, 1n, framed(7, 'a'), key('v'));
    ledger.observe('t', 0, 2n, framed(9, 'a'), key('v'));
    expect(keyFormatMismatch('t', 'string', ledger.formatsSeen('t'))).toMatch(/^topic t holds Confluent-framed keys \(schema id 7, 9; 2 records read\)/);
    expect(keyFormatMismatch('t', 'avro', ledger.formatsSeen('t'))).toBeNull();
    expect(ledger.foreignKeys('t')).toEqual([{ key: framed(9, 'a'), live: true }]);
    ledger.observe('t', 0, 4n, key('plain'), key('v'));
    expect(keyFormatMismatch('t', 'avro', ledger.formatsSeen('t'))).toMatch(/holds 1 records read whose keys are not Confluent-framed/);
  });
});

describe('key values for a key schema', () => {
  it('fills a string, a canonical integer, or a record of one field; nothing else', () => {
    expect(keyValueOf('avro', 'string', '42')).toBe('42');
    expect(keyValueOf('avro', { type: 'long' }, '42')).toBe(42);
    expect(keyValueOf('avro', 'long', '042')).toBeNull();
    expect(keyValueOf('avro', { type: 'record', name: 'K', fields: [{ name: 'id', type: 'string' }] }, '42')).toEqual({ id: '42' });
    expect(keyValueOf('avro', { type: 'record', name: 'K', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: 'string' }] }, '42')).toBeNull();
    expect(keyValueOf('json', { type: 'integer' }, '7')).toBe(7);
    expect(keyValueOf('json', { type: 'object', properties: { id: { type: 'string' } } }, 'x')).toEqual({ id: 'x' });
  });
});
