import avro from 'avsc';
import type { ProducerRecord, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { CommitAcker } from '../../src/cdc/commit-acker.js';
import type { ErasureManifest, SubjectErased } from '../../src/cdc/erasure-manifest.js';
import { EventPublisher } from '../../src/cdc/event-publisher.js';
import { readSchema } from '../../src/events/event-codec.js';
import { RECORD_BATCH_OVERHEAD, recordBytes } from '../../src/kafka/record-size.js';
import { waitFor } from '../support/wait-for.js';

const manifest: ErasureManifest = {
  eventId: 'e-1',
  subjectType: 'user',
  subjectId: '42',
  subjectKey: [{ column: 'id', value: '42' }],
  operation: 'DELETE',
  sourceTable: 'public.users',
  commitLsn: '0/10',
  commitTime: 1_790_000_000_000,
  xid: 7,
  requestId: null,
  related: [],
};

/** The one Producer method the publisher uses, failing the way a broker outage does. */
class RejectingProducer {
  readonly sent: ProducerRecord[] = [];
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    this.sent.push(record);
    return Promise.reject(new Error('broker unavailable'));
  }
}

const codec = { encode: async () => Buffer.from('avro') };

/** Encodes as the registry does: a magic byte, the schema id, the Avro binary. */
const schema = avro.Type.forSchema(JSON.parse(readSchema('subject-erased')) as avro.Schema);
const avroCodec = { encode: async (e: SubjectErased) => Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), schema.toBuffer(e)]) };

/** Acknowledges every send, or fails the `failAt`-th (1-based), and keeps what it was sent. */
class RecordingProducer {
  readonly sent: ProducerRecord[] = [];
  constructor(private readonly failAt = 0) {}
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    this.sent.push(record);
    if (this.sent.length === this.failAt) return Promise.reject(new Error('broker unavailable'));
    return Promise.resolve([]);
  }
}

const bigManifest = (rows: number): ErasureManifest => ({
  ...manifest,
  related: Array.from({ length: rows }, (_, i) => ({ table: 'shop.orders', key: [{ column: 'id', value: String(i + 1) }], operation: 'DELETE' as const })),
});

describe('EventPublisher', () => {
  it('reports a failed send the linger timer started at once, without a further add()', async () => {
    const producer = new RejectingProducer();
    const failures: unknown[] = [];
    const settled: number[] = [];
    const publisher = new EventPublisher(producer, codec, { topic: 't', maxBatchEvents: 100, lingerMs: 5, maxMessageBytes: 1_000_000 }, (n) => settled.push(n), (e) => failures.push(e));
    const acker = new CommitAcker(0x10n);
    acker.begin();
    const ticket = acker.commit(0x20n);

    await publisher.add([manifest], ticket); // below maxBatchEvents: left to the timer
    expect(producer.sent).toHaveLength(0);
    const [failure] = await waitFor(() => (failures.length > 0 ? failures : undefined), { timeoutMs: 2_000, what: 'the failure to be reported' });

    expect((failure as Error).message).toBe('broker unavailable');
    expect(failures).toHaveLength(1);
    expect(producer.sent).toHaveLength(1);
    // Nothing settled: the slot may not be confirmed past the lost batch.
    expect(settled).toEqual([]);
    expect(acker.confirmableLsn()).toBe(0x10n);
    expect(publisher.failed()).toBe(failure);
    await expect(publisher.add([manifest], ticket)).rejects.toBe(failure);
    publisher.close();
  });

  it('reports a failed send of a full batch once, besides rejecting the add()', async () => {
    const producer = new RejectingProducer();
    const failures: unknown[] = [];
    const publisher = new EventPublisher(producer, codec, { topic: 't', maxBatchEvents: 1, lingerMs: 60_000, maxMessageBytes: 1_000_000 }, () => undefined, (e) => failures.push(e));
    const acker = new CommitAcker();
    acker.begin();
    await expect(publisher.add([manifest], acker.commit(0x20n))).rejects.toThrow('broker unavailable');
    expect(failures).toHaveLength(1);
    publisher.close();
  });

  it('sends an event too large for one record as parts, each send within the limit, and settles the commit after the last', async () => {
    const producer = new RecordingProducer();
    const maxMessageBytes = 50_000;
    const settled: number[] = [];
    const publisher = new EventPublisher(producer, avroCodec, { topic: 't', maxBatchEvents: 500, lingerMs: 60_000, maxMessageBytes }, (n) => settled.push(n), () => undefined);
    const acker = new CommitAcker(0x10n);
    acker.begin();
    const big = acker.commit(0x20n);
    acker.begin();
    const small = acker.commit(0x30n);
    await publisher.add([bigManifest(10_000)], big);
    await publisher.add([{ ...manifest, eventId: 'e-2' }], small);
    await publisher.flush();

    const messages = producer.sent.flatMap((r) => r.messages);
    const parts = messages.slice(0, -1).map((m) => schema.fromBuffer((m.value as Buffer).subarray(5)) as SubjectErased);
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.map((p) => [p.eventId, p.part, p.parts])).toEqual(parts.map((_, i) => ['e-1', i + 1, parts.length]));
    expect(parts.flatMap((p) => p.related)).toEqual(bigManifest(10_000).related);
    for (const m of messages) expect(RECORD_BATCH_OVERHEAD + recordBytes(m)).toBeLessThanOrEqual(maxMessageBytes);
    // Several records to one partition (one key) are one record batch: each send stays within it.
    expect(producer.sent.length).toBeGreaterThan(1);
    for (const r of producer.sent) expect(RECORD_BATCH_OVERHEAD + r.messages.reduce((n, m) => n + recordBytes(m), 0)).toBeLessThanOrEqual(maxMessageBytes);
    expect(settled.reduce((a, b) => a + b, 0)).toBe(messages.length);
    expect(acker.confirmableLsn()).toBe(0x30n);
    publisher.close();
  });

  it('does not settle a commit when a later part of it fails to send', async () => {
    const producer = new RecordingProducer(2);
    const failures: unknown[] = [];
    const publisher = new EventPublisher(producer, avroCodec, { topic: 't', maxBatchEvents: 500, lingerMs: 60_000, maxMessageBytes: 20_000 }, () => undefined, (e) => failures.push(e));
    const acker = new CommitAcker(0x10n);
    acker.begin();
    // Over the byte limit, the add() sends at once and waits: the reader's backpressure.
    await expect(publisher.add([bigManifest(5_000)], acker.commit(0x20n))).rejects.toThrow('broker unavailable');
    expect(producer.sent).toHaveLength(2);
    expect(acker.confirmableLsn()).toBe(0x10n);
    expect(failures).toHaveLength(1);
    publisher.close();
  });

  it('flushes once the waiting events reach the byte limit, not only the event count', async () => {
    const producer = new RecordingProducer();
    const publisher = new EventPublisher(producer, avroCodec, { topic: 't', maxBatchEvents: 500, lingerMs: 60_000, maxMessageBytes: 20_000 }, () => undefined, () => undefined);
    const acker = new CommitAcker();
    acker.begin();
    await publisher.add([bigManifest(2_000)], acker.commit(0x20n));
    expect(producer.sent.length).toBeGreaterThan(0);
    publisher.close();
  });

  it('with batches in flight, decodes on while earlier ones are sent, settles commits in order, and fails the next add after a lost send', async () => {
    // Sends that wait until the test lets them end, as a slow broker's would.
    const pending: Array<{ record: ProducerRecord; end: (error?: Error) => void }> = [];
    const producer = {
      send: (record: ProducerRecord) =>
        new Promise<RecordMetadata[]>((resolve, reject) => pending.push({ record, end: (error) => (error ? reject(error) : resolve([])) })),
    };
    const failures: unknown[] = [];
    const publisher = new EventPublisher(producer, codec, { topic: 't', maxBatchEvents: 1, lingerMs: 60_000, maxMessageBytes: 1_000_000, maxBatchesInFlight: 3 }, () => undefined, (e) => failures.push(e));
    const acker = new CommitAcker(0x10n);
    const commit = async (lsn: bigint) => {
      acker.begin();
      await publisher.add([{ ...manifest, eventId: `e-${lsn}` }], acker.commit(lsn));
    };
    // Two full batches queued, neither sent yet: add() has not waited.
    await commit(0x20n);
    await commit(0x30n);
    let third = false;
    const adding = commit(0x40n).then(() => void (third = true));
    await waitFor(() => pending.length === 1);
    expect(third).toBe(false); // the third full batch waits for the first to be durable
    pending[0]!.end();
    await adding;
    expect(acker.confirmableLsn()).toBe(0x20n);
    await waitFor(() => pending.length === 2);
    // The second send is lost: no commit after it settles, and the next add() fails.
    pending[1]!.end(new Error('broker unavailable'));
    await waitFor(() => failures.length === 1);
    await expect(commit(0x50n)).rejects.toThrow('broker unavailable');
    expect(acker.confirmableLsn()).toBe(0x20n);
    expect(pending).toHaveLength(2);
    publisher.close();
  });
});
