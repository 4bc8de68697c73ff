import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../../connectors/compacted-partitioner.js';
import { CompactedTopicConnector } from '../../../connectors/compacted-topic-connector.js';
import { outcomeOf } from '../../../connectors/sink-connector.js';
import { foldErasure, type AckRecord } from '../../../src/tracker/erasure-status.js';
import { buildReport } from '../../../src/tracker/proof-report.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased, type SinkFixture } from '../../support/sink-fixture.js';

const COMPACT = [
  { name: 'cleanup.policy', value: 'compact' },
  { name: 'delete.retention.ms', value: '100' },
  { name: 'max.compaction.lag.ms', value: '60000' },
];

/** A fixture with one compacted topic (3 partitions) for subject `user`, keyed as `keyFormat` says (`fields`: the target's others). */
async function topicFixture(keyFormat: string, verification = '', fields = 'key: "{subject}"', configEntries = COMPACT) {
  const topic = `lethe.test.profiles.${uniqueName('t')}`;
  const fx = await sinkFixture(`  compacted:
${verification}    user:
      - { topic: ${topic}, ${fields}, keyFormat: ${keyFormat} }
`);
  fx.kafka.track(topic);
  // Waits for the leaders itself: kafkajs' waitForLeaders gives up on a metadata answer that does not know the topic yet.
  await fx.kafka.createTopics([{ topic, numPartitions: 3, configEntries }]);
  const registry = new SchemaRegistry({ host: endpoints().schemaRegistryUrl });
  const producer = fx.kafka.kafka.producer();
  await producer.connect();
  return {
    fx,
    topic,
    registry,
    producer,
    connector: (kafka: Kafka = fx.kafka.kafka) => new CompactedTopicConnector(fx.catalog.sinks.compacted!, kafka, fx.catalog.kafka.maxMessageBytes, endpoints().schemaRegistryUrl),
    async [Symbol.asyncDispose]() {
      await producer.disconnect();
      const subject = new URL(`/subjects/${encodeURIComponent(`${topic}-key`)}`, endpoints().schemaRegistryUrl);
      await fetch(subject, { method: 'DELETE' });
      await fetch(`${subject}?permanent=true`, { method: 'DELETE' });
      await fx[Symbol.asyncDispose]();
    },
  };
}

/** Registers a string Avro key schema (`schema`, as JSON text) under the topic's key subject; its id. */
async function avroStringKeys(topic: string, schema = '"string"'): Promise<number> {
  // Through the REST API: the client library registers named (record) Avro schemas only.
  const response = await fetch(new URL(`/subjects/${encodeURIComponent(`${topic}-key`)}/versions`, endpoints().schemaRegistryUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: number }).id;
}

async function applyOne(connector: CompactedTopicConnector, id: string) {
  try {
    const [results] = await connector.apply([userErased(id)]);
    return results![0]!;
  } finally {
    await connector.close();
  }
}

/**
 * A Kafka whose producers, after each send, have the application write `key` again: a write
 * that lands after the tombstone and before the read-back, as a live application's would.
 */
function writesAgainAfterEachSend(kafka: Kafka, write: () => Promise<unknown>): Kafka {
  const wrapped = Object.create(kafka) as Kafka;
  wrapped.producer = (config) => {
    const producer = kafka.producer(config);
    return Object.assign(Object.create(producer) as Producer, {
      send: async (record: Parameters<Producer['send']>[0]) => {
        const sent = await producer.send(record);
        await write();
        return sent;
      },
    });
  };
  return wrapped;
}

const reportRow = (fx: SinkFixture, id: string, result: { affected: number; residual: number; details?: Record<string, string> }) => {
  const target = fx.catalog.sinks.compacted!.subjects.get('user')![0]!;
  const name = `topic ${target.topic} key ${target.key}`;
  const ack: AckRecord = {
    eventId: 'e-1', subjectType: 'user', subjectId: id, sink: 'compacted', target: name, outcome: outcomeOf({ target: name, ...result }),
    affected: result.affected, residual: result.residual, attempt: 1, replay: false, error: null, details: result.details ?? {}, at: Date.now(),
  };
  const status = foldErasure({ facts: null, expected: [{ kind: 'sink', sink: 'compacted', target: name, action: 'delete' }], acks: [ack], confirmations: [], slaMs: 60_000, now: Date.now() });
  return buildReport(status, Date.now()).targets[0]!;
};

describe('compacted topics: the read-back after writing', () => {
  it('a key with a record is affected and verified; a key without one is nothing to do, its tombstone still written', async () => {
    await using t = await topicFixture('string');
    await t.producer.send({ topic: t.topic, messages: [{ key: '42', value: 'profile of 42' }, { key: '43', value: 'profile of 43' }] });

    const had = await applyOne(t.connector(), '42');
    expect(had).toMatchObject({ affected: 1, residual: 0, details: { tombstones: '1', verified: '1' } });
    expect(had.details).not.toHaveProperty('not-verified');
    expect(outcomeOf(had)).toBe('APPLIED');
    expect(reportRow(t.fx, '42', had).verification).toBe(
      'tombstone is the latest record for 1 key (1 had a record); older records are removed when the log cleaner runs, within max.compaction.lag.ms (60000 ms)',
    );

    const none = await applyOne(t.connector(), '44');
    expect(none).toMatchObject({ affected: 0, residual: 0, details: { tombstones: '1', verified: '1' } });
    expect(outcomeOf(none)).toBe('NOTHING_TO_DO');
    expect(reportRow(t.fx, '44', none).done).toBe('wrote 1 tombstone; no key had a record');
    const tombstones = (await t.fx.kafka.records(t.topic)).filter((m) => m.value === null).map((m) => m.key!.toString());
    expect(tombstones.sort()).toEqual(['42', '44']);
  });

  it('a record of the key written after the tombstone is residual: FAILED', async () => {
    await using t = await topicFixture('string');
    await t.producer.send({ topic: t.topic, messages: [{ key: '42', value: 'profile of 42' }] });
    const kafka = writesAgainAfterEachSend(t.fx.kafka.kafka, () => t.producer.send({ topic: t.topic, acks: -1, messages: [{ key: '42', value: 'written again' }] }));

    const result = await applyOne(t.connector(kafka), '42');
    expect(result).toMatchObject({ affected: 1, residual: 1, details: { verified: '0' } });
    expect(outcomeOf(result)).toBe('FAILED');
  });

  it('an Avro-keyed topic declared keyFormat avro gets tombstones in the same bytes, verified', async () => {
    await using t = await topicFixture('avro');
    const id = await avroStringKeys(t.topic);
    await t.producer.send({ topic: t.topic, messages: [{ key: await t.registry.encode(id, '42'), value: 'profile of 42' }, { key: await t.registry.encode(id, '43'), value: 'profile of 43' }] });

    const result = await applyOne(t.connector(), '42');
    expect(result).toMatchObject({ affected: 1, residual: 0, details: { tombstones: '1', verified: '1' } });
    expect(result.failed).toBeUndefined();
    const records = await t.fx.kafka.records(t.topic);
    const tombstone = records.find((m) => m.value === null)!;
    expect(tombstone.key!.equals(await t.registry.encode(id, '42'))).toBe(true);
  });

  it('an Avro-keyed topic declared as string fails, naming the topic and the format found', async () => {
    await using t = await topicFixture('string');
    const id = await avroStringKeys(t.topic);
    await t.producer.send({ topic: t.topic, messages: [{ key: await t.registry.encode(id, '42'), value: 'profile of 42' }] });

    const result = await applyOne(t.connector(), '42');
    expect(result.failed).toBe(`topic ${t.topic} holds Confluent-framed keys (schema id ${id}; 1 live keys read), but the catalog declares keyFormat string: a string tombstone erases none of them`);
    expect(outcomeOf(result)).toBe('FAILED');
  });

  it('keyFormat avro without a key schema in the registry fails naming the subject', async () => {
    await using t = await topicFixture('avro');
    const result = await applyOne(t.connector(), '42');
    expect(result.failed).toBe(`no key schema is registered under subject ${t.topic}-key`);
  });

  it('over the history budget, affected is unknown; past the time limit, written, not verified', async () => {
    {
      await using t = await topicFixture('string', '    verification: { historyRecords: 1 }\n');
      await t.producer.send({ topic: t.topic, messages: ['a', 'b', 'c'].map((v) => ({ key: '42', value: v })) });
      const result = await applyOne(t.connector(), '42');
      expect(result).toMatchObject({ affected: 0, residual: 0, details: { verified: '1', 'affected-unknown': expect.stringMatching(/3 offsets precede the tombstones in .*, over the read budget of 1$/) } });
      expect(reportRow(t.fx, '42', result).done).toMatch(/^wrote 1 tombstone; whether the keys had a record is not known: 3 offsets precede/);
    }
    {
      await using t = await topicFixture('string', '    verification: { timeoutMs: 1 }\n');
      await t.producer.send({ topic: t.topic, messages: [{ key: '42', value: 'profile of 42' }] });
      const result = await applyOne(t.connector(), '42');
      expect(result.details!['not-verified']).toMatch(/was not read back to its high watermark within 1 ms$/);
      expect(result).toMatchObject({ affected: 0, residual: 0, details: { verified: '0' } });
      const row = reportRow(t.fx, '42', result);
      expect(row.verification).toMatch(/^written, not verified: .* within 1 ms$/);
      expect(row.verification).not.toMatch(/latest record|0 remaining/);
    }
  });

  it('a key whose record is in another partition than murmur2 picks fails, naming both partitions', async () => {
    await using t = await topicFixture('string');
    const partitions = (await t.fx.kafka.admin.fetchTopicMetadata({ topics: [t.topic] })).topics[0]!.partitions;
    const murmur2 = partitionOf('murmur2', t.topic, partitions, Buffer.from('42'));
    const elsewhere = (murmur2 + 1) % 3;
    await t.producer.send({ topic: t.topic, messages: [{ key: '42', value: 'profile of 42', partition: elsewhere }] });

    const result = await applyOne(t.connector(), '42');
    expect(result.failed).toBe(
      `topic ${t.topic}: a key found in partition ${elsewhere}, the tombstone went to ${murmur2} (partitioner murmur2): the application partitions keys differently, ` +
        'or the topic gained partitions since the record was written; declare `partitioner` (murmur2 or crc32) for the target',
    );
    expect(result).toMatchObject({ affected: 0, residual: 1, details: { tombstones: '1', verified: '0' } });
    expect(outcomeOf(result)).toBe('FAILED');
  });

  it('partitioner crc32 puts the tombstone where librdkafka put the record: verified', async () => {
    await using t = await topicFixture('string', '', 'key: "{subject}", partitioner: crc32');
    const partitions = (await t.fx.kafka.admin.fetchTopicMetadata({ topics: [t.topic] })).topics[0]!.partitions;
    // A subject whose two partitions differ, so the test tells the partitioners apart.
    const id = ['42', '43', '44', '45', '46', '47'].find((k) => partitionOf('crc32', t.topic, partitions, Buffer.from(k)) !== partitionOf('murmur2', t.topic, partitions, Buffer.from(k)))!;
    const crc32 = partitionOf('crc32', t.topic, partitions, Buffer.from(id));
    await t.producer.send({ topic: t.topic, messages: [{ key: id, value: `profile of ${id}`, partition: crc32 }] });

    const result = await applyOne(t.connector(), id);
    expect(result).toMatchObject({ affected: 1, residual: 0, details: { tombstones: '1', verified: '1' } });
    expect(result.failed).toBeUndefined();
    expect(result.details).not.toHaveProperty('affected-unknown');
    // The record and its tombstone, both in the partition crc32 gives the key.
    const offsets = await t.fx.kafka.admin.fetchTopicOffsets(t.topic);
    expect(offsets.map((o) => [o.partition, o.high]).sort()).toEqual([0, 1, 2].map((p) => [p, p === crc32 ? '2' : '0']));
  });

  it('a related row without its key column fails the target; the rows with one are still tombstoned', async () => {
    await using t = await topicFixture('string', '', 'key: "order-{row.id}", related: public.orders');
    await t.producer.send({ topic: t.topic, messages: [{ key: 'order-1', value: 'o1' }] });
    const connector = t.connector();
    const event = userErased('42', [
      { table: 'public.orders', key: [], operation: 'DELETE' },
      { table: 'public.orders', key: [{ column: 'id', value: '1' }], operation: 'DELETE' },
    ]);
    const [results] = await connector.apply([event]).finally(() => connector.close());
    expect(results![0]).toMatchObject({
      affected: 1,
      residual: 0,
      failed: 'a related row of public.orders carries no id (the event names related rows by their primary key only; does the table have one?)',
      details: { tombstones: '1', verified: '1' },
    });
    expect(outcomeOf(results![0]!)).toBe('FAILED');
  });

  it('the key framed under an older schema id, in another partition than the tombstone, is residual', async () => {
    await using t = await topicFixture('avro');
    const older = await avroStringKeys(t.topic);
    const latest = await avroStringKeys(t.topic, JSON.stringify({ type: 'string', 'lethe.version': 2 }));
    expect(latest).not.toBe(older);
    const partitions = (await t.fx.kafka.admin.fetchTopicMetadata({ topics: [t.topic] })).topics[0]!.partitions;
    const tombstoneAt = partitionOf('murmur2', t.topic, partitions, await t.registry.encode(latest, '42'));
    // Other keys after it in that partition: a sample of its latest records would not reach it.
    const later = await Promise.all(Array.from({ length: 12 }, async (_, i) => ({ key: await t.registry.encode(latest, `${100 + i}`), value: 'another profile', partition: (tombstoneAt + 1) % 3 })));
    await t.producer.send({ topic: t.topic, messages: [{ key: await t.registry.encode(older, '42'), value: 'profile of 42', partition: (tombstoneAt + 1) % 3 }, ...later] });

    const result = await applyOne(t.connector(), '42');
    expect(result).toMatchObject({ residual: 1, details: { tombstones: '1' } });
    expect(outcomeOf(result)).toBe('FAILED');
  });

  it('another partition over the history budget leaves whether a key sits there unknown, never a clean 0', async () => {
    await using t = await topicFixture('string', '    verification: { historyRecords: 1 }\n');
    const partitions = (await t.fx.kafka.admin.fetchTopicMetadata({ topics: [t.topic] })).topics[0]!.partitions;
    const elsewhere = (partitionOf('murmur2', t.topic, partitions, Buffer.from('42')) + 1) % 3;
    // 42's record, then another key's: only the latest record of that partition is within the budget.
    await t.producer.send({ topic: t.topic, messages: [{ key: '42', value: 'profile of 42', partition: elsewhere }, { key: '43', value: 'profile of 43', partition: elsewhere }] });

    const result = await applyOne(t.connector(), '42');
    expect(result.failed).toBeUndefined();
    expect(result.details!['affected-unknown']).toBe(
      `${t.topic}/${elsewhere} holds 2 offsets, over the read budget of 1: only its latest 1 were read, so a record of the keys there (another partitioner) is not ruled out`,
    );
    expect(reportRow(t.fx, '42', result).done).toMatch(/^wrote 1 tombstone; whether the keys had a record is not known: /);
  });
});

describe('compacted topics: read-backs kept between applies', () => {
  it('one connector through many applies knows what earlier read-backs read: erased keys, writes in between, applies at once', { timeout: 30_000 }, async () => {
    // Tombstones kept a day: the index is read on from where it ended (not anew after half of delete.retention.ms).
    const configEntries = [...COMPACT.filter((c) => c.name !== 'delete.retention.ms'), { name: 'delete.retention.ms', value: '86400000' }];
    await using t = await topicFixture('string', '', 'key: "{subject}"', configEntries);
    await t.producer.send({ topic: t.topic, acks: -1, messages: ['42', '43', '44', '46'].map((k) => ({ key: k, value: `profile of ${k}` })) });
    const connector = t.connector();
    const one = async (id: string) => (await connector.apply([userErased(id)]))[0]![0]!;
    try {
      expect(await one('42')).toMatchObject({ affected: 1, residual: 0, details: { verified: '1' } });
      // Erased again (a redelivery): its value is still in the log before the first tombstone.
      expect(await one('42')).toMatchObject({ affected: 1, residual: 0, details: { verified: '1' } });
      // Never written: nothing to do.
      const none = await one('48');
      expect(none).toMatchObject({ affected: 0, residual: 0, details: { verified: '1' } });
      expect(outcomeOf(none)).toBe('NOTHING_TO_DO');
      // The application writes it again; 44 is deleted by the application itself.
      await t.producer.send({ topic: t.topic, acks: -1, messages: [{ key: '42', value: 'signed up again' }, { key: '44', value: null }] });
      expect(await one('42')).toMatchObject({ affected: 1, residual: 0 });
      expect(await one('44')).toMatchObject({ affected: 1, residual: 0, details: { verified: '1' } });
      // Two applies at once (a sink's partitions run in parallel): each verified, each its own key.
      const [a, b] = await Promise.all([one('43'), one('45')]);
      expect(a).toMatchObject({ affected: 1, residual: 0, details: { verified: '1' } });
      expect(b).toMatchObject({ affected: 0, residual: 0, details: { verified: '1' } });
      expect(b.details).not.toHaveProperty('not-verified');
      // Written again after its tombstone, before the read-back: residual, whatever was read before.
      const writing = writesAgainAfterEachSend(t.fx.kafka.kafka, () => t.producer.send({ topic: t.topic, acks: -1, messages: [{ key: '46', value: 'written again' }] }));
      const racing = t.connector(writing);
      try {
        expect((await racing.apply([userErased('47')]))[0]![0]).toMatchObject({ affected: 0, residual: 0 });
        expect((await racing.apply([userErased('46')]))[0]![0]).toMatchObject({ affected: 1, residual: 1 });
      } finally {
        await racing.close();
      }
    } finally {
      await connector.close();
    }
  });

  it('records deleted below a kept read-back (the log start moved) are read anew: what is gone is not counted as erased now', async () => {
    const configEntries = [...COMPACT.filter((c) => !['cleanup.policy', 'delete.retention.ms'].includes(c.name)), { name: 'cleanup.policy', value: 'compact,delete' }, { name: 'delete.retention.ms', value: '86400000' }];
    await using t = await topicFixture('string', '', 'key: "{subject}"', configEntries);
    await t.producer.send({ topic: t.topic, acks: -1, messages: [{ key: '46', value: 'profile of 46' }] });
    const connector = t.connector();
    try {
      expect((await connector.apply([userErased('47')]))[0]![0]).toMatchObject({ affected: 0, residual: 0 });
      // Retention takes every record so far, 46's profile with them.
      const offsets = await t.fx.kafka.admin.fetchTopicOffsets(t.topic);
      await t.fx.kafka.admin.deleteTopicRecords({ topic: t.topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
      const gone = (await connector.apply([userErased('46')]))[0]![0]!;
      expect(gone).toMatchObject({ affected: 0, residual: 0, details: { verified: '1' } });
      expect(outcomeOf(gone)).toBe('NOTHING_TO_DO');
    } finally {
      await connector.close();
    }
  });
});
