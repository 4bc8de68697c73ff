import { describe, expect, it } from 'vitest';
import { keyValueOf } from '../../connectors/compacted-key-format.js';
import { partitionOf } from '../../connectors/compacted-partitioner.js';
import { parseCatalog } from '../../src/catalog/catalog.js';
import { catalogProblems } from '../support/catalog-problems.js';
import { keyFormatMismatch, strayFailure, verdictOf, type PartitionCoverage, type WrittenTombstone } from '../../connectors/compacted-verification.js';
import { CompactedKeyIndex, TombstoneLedger } from '../../connectors/compacted-key-index.js';

const framed = (id: number, rest: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), Buffer.from(rest)]);
const key = (text: string) => Buffer.from(text);
const readBack = (coverage: (topic: string, partition: number) => PartitionCoverage = () => ({ complete: true, history: true }), partitions = [0]) => ({ coverage, partitions: () => partitions });
const complete = readBack();

/** An apply's read-back in one go: its keys watched, then the records read into a kept index of each partition. */
function readBackOf(tombstones: readonly WrittenTombstone[], partitions = [0], index = new CompactedKeyIndex(1_000)) {
  for (const t of tombstones) index.watch(t.topic, t.partition, t.key);
  const read = new Map(partitions.map((p) => [`t/${p}`, index.kept('t', p) ?? index.open('t', p, 0n, true)] as const));
  const observe = (partition: number, offset: bigint, k: Buffer, value: Buffer | null) => read.get(`t/${partition}`)!.observe(offset, k, value);
  return { index, read, observe, ledger: () => new TombstoneLedger(read, tombstones) };
}

describe('compacted tombstone ledger', () => {
  const tombstone = (k: string, offset: bigint, partition = 0): WrittenTombstone => ({ topic: 't', partition, offset, key: key(k) });

  it('affected means a value before the tombstone; residual means a value as the latest record after it', () => {
    const ts = [tombstone('42', 5n), tombstone('43', 6n), tombstone('44', 7n)];
    const { observe, ledger } = readBackOf(ts);
    observe(0, 1n, key('42'), key('v'));
    observe(0, 2n, key('43'), null);
    for (const t of ts) observe(0, t.offset, t.key, null);
    observe(0, 8n, key('44'), key('written again'));
    observe(0, 9n, key('42'), key('again'));
    observe(0, 10n, key('42'), null);
    expect(verdictOf(ts, ledger(), complete, 0)).toEqual({ affected: 1, residual: 1, details: { tombstones: '3', verified: '2' }, strays: [] });
  });

  it("a send result whose offset holds another key's record (the batch taken for a duplicate) is not verified, and the key's value still there is residual", () => {
    // The broker said 10; offset 10 holds another key, and 42's latest record is its value at 3.
    const lost = tombstone('42', 10n);
    const fine = tombstone('43', 11n);
    const { observe, ledger } = readBackOf([lost, fine]);
    observe(0, 3n, key('42'), key('profile'));
    observe(0, 4n, key('43'), key('profile'));
    observe(0, 10n, key('99'), null);
    observe(0, 11n, key('43'), null);
    expect(verdictOf([lost, fine], ledger(), complete, 0)).toEqual({
      affected: 1,
      residual: 1,
      details: { tombstones: '2', verified: '1', 'not-verified': 'tombstone at offset 10 of t/0 was not read back', 'affected-unknown': 'tombstone at offset 10 of t/0 was not read back' },
      strays: [],
    });
    // A key whose record at that offset has a value is no tombstone either.
    const other = readBackOf([tombstone('42', 10n)]);
    other.observe(0, 10n, key('42'), key('written over'));
    expect(verdictOf([tombstone('42', 10n)], other.ledger(), complete, 0)).toMatchObject({ residual: 1, details: { verified: '0' } });
  });

  it('a partition not read to its end is not verified, and its history unknown', () => {
    const t = tombstone('42', 5n);
    const verdict = verdictOf([t], readBackOf([t]).ledger(), readBack(() => ({ complete: false, reason: 't/0 was not read back' })), 0);
    expect(verdict).toEqual({ affected: 0, residual: 0, details: { tombstones: '1', verified: '0', 'not-verified': 't/0 was not read back', 'affected-unknown': 't/0 was not read back' }, strays: [] });
  });

  it('a live record of the key in another partition is residual, named as a stray; one erased there is not', () => {
    const [a, b] = [tombstone('42', 5n), tombstone('43', 6n)];
    const { observe, ledger } = readBackOf([a, b], [0, 1, 2]);
    observe(2, 0n, key('42'), key('profile'));
    observe(1, 0n, key('43'), key('profile'));
    observe(1, 1n, key('43'), null);
    for (const t of [a, b]) observe(0, t.offset, t.key, null);
    const verdict = verdictOf([a, b], ledger(), readBack(undefined, [0, 1, 2]), 0);
    expect(verdict).toEqual({ affected: 0, residual: 1, details: { tombstones: '2', verified: '1' }, strays: [{ found: 2, tombstone: 0 }] });
    expect(strayFailure('t', 'murmur2', verdict.strays)).toMatch(/^topic t: a key found in partition 2, the tombstone went to 0 \(partitioner murmur2\): the application partitions keys differently.*declare `partitioner`/);
  });

  it('another partition read short of its end or of its history leaves the verdict not verified or affected unknown', () => {
    const t = tombstone('42', 5n);
    const { observe, ledger } = readBackOf([t]);
    observe(0, 1n, key('42'), key('v'));
    observe(0, 5n, t.key, null);
    const coverage = (_: string, p: number): PartitionCoverage =>
      p === 0 ? { complete: true, history: true } : p === 1 ? { complete: true, history: 't/1 holds 9 offsets, over the read budget' } : { complete: false, reason: 't/2 was not read back' };
    expect(verdictOf([t], ledger(), readBack(coverage, [0, 1, 2]), 0)).toEqual({
      affected: 1,
      residual: 0,
      details: { tombstones: '1', verified: '1', 'not-verified': 't/2 was not read back', 'affected-unknown': 't/1 holds 9 offsets, over the read budget; t/2 was not read back' },
      strays: [],
    });
  });

  it('keys in another serialization than declared are named; framed keys under other schema ids are kept aside', () => {
    const { observe, ledger } = readBackOf([{ topic: 't', partition: 0, offset: 3n, key: framed(7, 'a') }]);
    observe(0, 1n, framed(7, 'a'), key('v'));
    observe(0, 2n, framed(9, 'a'), key('v'));
    expect(keyFormatMismatch('t', 'string', ledger().formatsSeen('t'))).toMatch(/^topic t holds Confluent-framed keys \(schema id 7, 9; 2 live keys read\)/);
    expect(keyFormatMismatch('t', 'avro', ledger().formatsSeen('t'))).toBeNull();
    expect(ledger().foreignKeys('t')).toEqual([framed(9, 'a')]);
    observe(0, 4n, key('plain'), key('v'));
    expect(keyFormatMismatch('t', 'avro', ledger().formatsSeen('t'))).toMatch(/holds 1 live keys read that are not Confluent-framed/);
    // Erased, the plain key no longer says what the topic's keys are.
    observe(0, 5n, key('plain'), null);
    expect(keyFormatMismatch('t', 'avro', ledger().formatsSeen('t'))).toBeNull();
  });
});

describe('compacted key index kept between applies', () => {
  const tombstone = (k: string, offset: bigint): WrittenTombstone => ({ topic: 't', partition: 0, offset, key: key(k) });
  const unwatch = (index: CompactedKeyIndex, ts: readonly WrittenTombstone[]) => ts.forEach((t) => index.unwatch(t.topic, t.partition, t.key));

  it("a later apply reads only new offsets and still knows each key's latest record from the first read", () => {
    const first = readBackOf([tombstone('42', 3n)]);
    first.observe(0, 0n, key('42'), key('v'));
    first.observe(0, 1n, key('43'), key('v'));
    first.observe(0, 2n, key('44'), key('v'));
    first.observe(0, 3n, key('42'), null);
    expect(verdictOf([tombstone('42', 3n)], first.ledger(), complete, 0)).toMatchObject({ affected: 1, residual: 0 });
    unwatch(first.index, [tombstone('42', 3n)]);
    // 42 erased again (a redelivery), 43 for the first time, 45 never written: only offsets 4 on are read.
    const again = [tombstone('42', 5n), tombstone('43', 6n), tombstone('45', 7n)];
    const second = readBackOf(again, [0], first.index);
    second.observe(0, 4n, key('44'), null);
    for (const t of again) second.observe(0, t.offset, t.key, null);
    // Both had a value before their tombstones (42's offset 0, still in the log until the cleaner runs).
    expect(verdictOf(again, second.ledger(), complete, 0)).toMatchObject({ affected: 2, residual: 0, details: { verified: '3' } });
    expect(second.ledger().stateOf(tombstone('43', 6n))).toMatchObject({ hadValue: true, seen: true, live: false });
    expect(second.ledger().stateOf(tombstone('42', 5n))).toMatchObject({ hadValue: true, seen: true });
    expect(second.ledger().stateOf(tombstone('45', 7n))).toMatchObject({ hadValue: false, seen: true });
  });

  it("a retry after an attempt whose tombstone landed without an ack still counts the value the first one erased", () => {
    const t = tombstone('42', 6n);
    const { observe, ledger } = readBackOf([t]);
    observe(0, 1n, key('42'), key('v'));
    observe(0, 5n, key('42'), null);
    observe(0, 6n, key('42'), null);
    expect(verdictOf([t], ledger(), complete, 0)).toMatchObject({ affected: 1, residual: 0, details: { verified: '1' } });
  });

  it('a key written many times after its tombstone, before the read-back, is still verified from its tombstone', () => {
    const t = tombstone('42', 2n);
    const { observe, ledger } = readBackOf([t]);
    observe(0, 1n, key('42'), key('v'));
    observe(0, 2n, key('42'), null);
    for (let i = 0n; i < 40n; i += 1n) observe(0, 3n + i, key('42'), i % 2n === 0n ? key('again') : null);
    expect(verdictOf([t], ledger(), complete, 0)).toMatchObject({ affected: 1, residual: 0, details: { verified: '1' } });
    observe(0, 50n, key('42'), key('again'));
    expect(verdictOf([t], ledger(), complete, 0)).toMatchObject({ affected: 1, residual: 1, details: { verified: '0' } });
    // A key never written before its tombstone, then written over and over: nothing was erased, and its tombstone was read.
    const never = tombstone('7', 5n);
    const other = readBackOf([never]);
    other.observe(0, 5n, key('7'), null);
    for (let i = 0n; i < 1_100n; i += 1n) other.observe(0, 6n + i, key('7'), i % 2n === 0n ? key('v') : null);
    expect(other.ledger().stateOf(never)).toMatchObject({ hadValue: false, seen: true, live: false });
  });

  it("a key watched before its tombstone is sent is known even when another apply's read passed the tombstone first", () => {
    const index = new CompactedKeyIndex(1_000);
    const a = readBackOf([], [0], index);
    a.observe(0, 0n, key('42'), key('v'));
    index.watch('t', 0, key('42'));
    // Another apply's read: 42's value again, then its tombstone (offset 2), then a write of 43.
    a.observe(0, 1n, key('42'), key('v2'));
    a.observe(0, 2n, key('42'), null);
    a.observe(0, 3n, key('43'), key('v'));
    const mine = new TombstoneLedger(a.read, [tombstone('42', 2n)]);
    expect(mine.stateOf(tombstone('42', 2n))).toMatchObject({ hadValue: true, seen: true, live: false });
    index.unwatch('t', 0, key('42'));
    // Unwatched and erased, the key is forgotten: a stray elsewhere or a later write would be new.
    expect(a.read.get('t/0')!.watched.size).toBe(0);
    expect(a.read.get('t/0')!.isLive(key('42'))).toBe(false);
  });

  it('past its cap of live keys a partition says so, and still follows the watched keys', () => {
    const index = new CompactedKeyIndex(2);
    const t = tombstone('9', 5n);
    const { observe, read, ledger } = readBackOf([t], [0], index);
    observe(0, 0n, key('1'), key('v'));
    observe(0, 1n, key('2'), key('v'));
    expect(read.get('t/0')!.overflowed).toBe(false);
    observe(0, 2n, key('3'), key('v'));
    observe(0, 3n, key('9'), key('v'));
    observe(0, 5n, key('9'), null);
    expect(read.get('t/0')!.overflowed).toBe(true);
    expect(read.get('t/0')!.isLive(key('3'))).toBe(false);
    expect(ledger().stateOf(t)).toMatchObject({ hadValue: true, seen: true, live: false });
    // The watched key is followed past the cap: written again, it is residual.
    observe(0, 6n, key('9'), key('again'));
    expect(ledger().stateOf(t)).toMatchObject({ live: true });
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
