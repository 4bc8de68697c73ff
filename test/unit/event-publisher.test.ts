import type { ProducerRecord, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { CommitAcker } from '../../src/cdc/commit-acker.js';
import type { ErasureManifest } from '../../src/cdc/erasure-manifest.js';
import { EventPublisher } from '../../src/cdc/event-publisher.js';
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

describe('EventPublisher', () => {
  it('reports a failed send the linger timer started at once, without a further add()', async () => {
    const producer = new RejectingProducer();
    const failures: unknown[] = [];
    const settled: number[] = [];
    const publisher = new EventPublisher(producer, codec, { topic: 't', maxBatchEvents: 100, lingerMs: 5 }, (n) => settled.push(n), (e) => failures.push(e));
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
    const publisher = new EventPublisher(producer, codec, { topic: 't', maxBatchEvents: 1, lingerMs: 60_000 }, () => undefined, (e) => failures.push(e));
    const acker = new CommitAcker();
    acker.begin();
    await expect(publisher.add([manifest], acker.commit(0x20n))).rejects.toThrow('broker unavailable');
    expect(failures).toHaveLength(1);
    publisher.close();
  });
});
