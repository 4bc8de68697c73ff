import { describe, expect, it } from 'vitest';
import { keyValueOf } from '../../connectors/compacted-key-format.js';
import { partitionOf } from '../../connectors/compacted-partitioner.js';
import { parseCatalog } from '../../src/catalog/catalog.js';
import { catalogProblems } from '../support/catalog-problems.js';
import { keyFormatMismatch, strayFailure, TombstoneLedger, verdictOf, type PartitionCoverage, type WrittenTombstone } from '../../connectors/compacted-verification.js';

const framed = (id: number, rest: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), Buffer.from(rest)]);
const key = (text: string) => Buffer.from(text);
const readBack = (coverage: (topic: string, partition: number) => PartitionCoverage = () => ({ complete: true, history: true }), partitions = [0]) => ({ coverage, partitions: () => partitions });
const complete = readBack();

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
    expect(verdictOf(ts, ledger, complete, 0)).toEqual({ affected: 1, residual: 1, details: { tombstones: '3', verified: '2' }, strays: [] });
  });

  it("a send result whose offset holds another key's record (the batch taken for a duplicate) is not verified, and the key's value still there is residual", () => {
    const ledger = new TombstoneLedger();
    // The broker said 10; offset 10 holds another key, and 42's latest record is its value at 3.
    const lost = tombstone('42', 10n);
    const fine = tombstone('43', 11n);
    ledger.add(lost);
    ledger.add(fine);
    ledger.observe('t', 0, 3n, key('42'), key('profile'));
    ledger.observe('t', 0, 4n, key('43'), key('profile'));
    ledger.observe('t', 0, 10n, key('99'), null);
    ledger.observe('t', 0, 11n, key('43'), null);
    expect(verdictOf([lost, fine], ledger, complete, 0)).toEqual({
      affected: 1,
      residual: 1,
      details: { tombstones: '2', verified: '1', 'not-verified': 'tombstone at offset 10 of t/0 was not read back', 'affected-unknown': 'tombstone at offset 10 of t/0 was not read back' },
      strays: [],
    });
    // A key whose record at that offset has a value is no tombstone either.
    const other = new TombstoneLedger();
    other.add(tombstone('42', 10n));
    other.observe('t', 0, 10n, key('42'), key('written over'));
    expect(verdictOf([tombstone('42', 10n)], other, complete, 0)).toMatchObject({ residual: 1, details: { verified: '0' } });
  });

  it('a partition not read to its end is not verified, and its history unknown', () => {
    const ledger = new TombstoneLedger();
    const t = tombstone('42', 5n);
    ledger.add(t);
    const verdict = verdictOf([t], ledger, readBack(() => ({ complete: false, reason: 't/0 was not read back' })), 0);
    expect(verdict).toEqual({ affected: 0, residual: 0, details: { tombstones: '1', verified: '0', 'not-verified': 't/0 was not read back', 'affected-unknown': 't/0 was not read back' }, strays: [] });
  });

  it('a live record of the key in another partition is residual, named as a stray; one erased there is not', () => {
    const ledger = new TombstoneLedger();
    const [a, b] = [tombstone('42', 5n), tombstone('43', 6n)];
    ledger.add(a);
    ledger.add(b);
    ledger.observe('t', 2, 0n, key('42'), key('profile'));
    ledger.observe('t', 1, 0n, key('43'), key('profile'));
    ledger.observe('t', 1, 1n, key('43'), null);
    for (const t of [a, b]) ledger.observe('t', 0, t.offset, t.key, null);
    const verdict = verdictOf([a, b], ledger, readBack(undefined, [0, 1, 2]), 0);
    expect(verdict).toEqual({ affected: 0, residual: 1, details: { tombstones: '2', verified: '1' }, strays: [{ found: 2, tombstone: 0 }] });
    expect(strayFailure('t', 'murmur2', verdict.strays)).toMatch(/^topic t: a key found in partition 2, the tombstone went to 0 \(partitioner murmur2\): the application partitions keys differently.*declare `partitioner`/);
  });

  it('another partition read short of its end or of its history leaves the verdict not verified or affected unknown', () => {
    const ledger = new TombstoneLedger();
    const t = tombstone('42', 5n);
    ledger.add(t);
    ledger.observe('t', 0, 1n, key('42'), key('v'));
    ledger.observe('t', 0, 5n, t.key, null);
    const coverage = (_: string, p: number): PartitionCoverage =>
      p === 0 ? { complete: true, history: true } : p === 1 ? { complete: true, history: 't/1 holds 9 offsets, over the read budget' } : { complete: false, reason: 't/2 was not read back' };
    expect(verdictOf([t], ledger, readBack(coverage, [0, 1, 2]), 0)).toEqual({
      affected: 1,
      residual: 0,
      details: { tombstones: '1', verified: '1', 'not-verified': 't/2 was not read back', 'affected-unknown': 't/1 holds 9 offsets, over the read budget; t/2 was not read back' },
      strays: [],
    });
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

describe('partitioners', () => {
  const partitions = (n: number) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

  it('crc32 is librdkafka consistent hashing: the zlib CRC-32 of the key modulo the partition count', () => {
    // CRC-32 of "123456789" is 0xCBF43926 (3421780262).
    expect(partitionOf('crc32', 't', partitions(7), key('123456789'))).toBe(3421780262 % 7);
  });

  it('a target declares its partitioner: murmur2 by default, crc32, nothing else', () => {
    const base = `source: { url: x }\nkafka: { brokers: b:1, schemaRegistry: "http://r" }\nsubjects:\n  user: { table: users, key: id }\nsinks:\n  compacted:\n    user:\n`;
    const targets = parseCatalog(`${base}      - { topic: a, key: "{subject}" }\n      - { topic: b, key: "{subject}", partitioner: crc32 }\n`, {}).sinks.compacted!.subjects.get('user')!;
    expect(targets.map((t) => t.partitioner)).toEqual(['murmur2', 'crc32']);
    expect(catalogProblems(`${base}      - { topic: a, key: "{subject}", partitioner: random }\n`)[0]).toMatchObject({ path: 'sinks.compacted.user[0].partitioner' });
  });

  it('murmur2 is the Java client\'s: toPositive(murmur2(key)) % partitions', () => {
    // Kafka's Utils.murmur2("21".getBytes()) is -973932308 (its own unit test); toPositive masks the sign bit.
    expect(partitionOf('murmur2', 't', partitions(100), key('21'))).toBe((-973932308 & 0x7fffffff) % 100);
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
