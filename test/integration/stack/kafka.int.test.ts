import type { Kafka, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createTopicsWithLeaders, kafkaContext } from '../../support/kafka-context.js';
import { uniqueName } from '../../support/names.js';
import { waitFor } from '../../support/wait-for.js';

// Proves the stack's broker is a real KRaft Kafka with the features Lethe relies on: compacted
// topics, tombstones (null values) that consumers see, an idempotent producer with acks=all.
describe('Kafka (KRaft)', () => {
  it('keeps a keyed record and its tombstone on a compacted topic', async () => {
    await using ctx = await kafkaContext();
    const topic = ctx.topicName('compacted');
    await createTopicsWithLeaders(ctx.admin, {
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'min.cleanable.dirty.ratio', value: '0.01' },
            { name: 'segment.ms', value: '100' },
          ],
        },
      ],
    });
    const described = await ctx.admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['cleanup.policy'] }],
    });
    expect(described.resources[0]?.configEntries[0]?.configValue).toBe('compact');

    const producer = ctx.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: 'user:42', value: '{"name":"x"}' }] });
      const [tombstoneMeta] = await producer.send({
        topic,
        acks: -1,
        messages: [{ key: 'user:42', value: null }],
      });
      expect(tombstoneMeta?.errorCode).toBe(0);
    } finally {
      await producer.disconnect();
    }

    const consumer = ctx.kafka.consumer({ groupId: uniqueName('group') });
    await consumer.connect();
    const seen: KafkaMessage[] = [];
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
      await waitFor(() => seen.length >= 2, { what: 'the record and its tombstone' });
    } finally {
      await consumer.disconnect();
    }
    expect(seen.map((m) => m.key?.toString())).toEqual(['user:42', 'user:42']);
    expect(seen[0]?.value?.toString()).toBe('{"name":"x"}');
    expect(seen[1]?.value).toBeNull();
  });

  it('compacts: the log cleaner removes a record superseded by its tombstone', async () => {
    await using ctx = await kafkaContext();
    const topic = ctx.topicName('cleaned');
    // Settings that let the real cleaner act within seconds (STACK-NOTES.md): small segments,
    // any dirty ratio, tombstones kept only briefly.
    await createTopicsWithLeaders(ctx.admin, {
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'min.cleanable.dirty.ratio', value: '0.01' },
            { name: 'segment.ms', value: '100' },
            { name: 'delete.retention.ms', value: '100' },
            { name: 'min.compaction.lag.ms', value: '0' },
          ],
        },
      ],
    });
    const producer = ctx.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: 'erased', value: 'personal data' }] });
      await producer.send({ topic, acks: -1, messages: [{ key: 'erased', value: null }] });
      // The active segment is never cleaned: later records roll the segment (segment.ms) so the
      // erased key's records become cleanable.
      await waitFor(
        async () => {
          await producer.send({ topic, acks: -1, messages: [{ key: 'kept', value: 'other subject' }] });
          const keys = (await readTopic(ctx.kafka, topic)).map((m) => `${m.key}=${m.value ?? 'null'}`);
          return keys.includes('erased=personal data') ? undefined : keys;
        },
        { timeoutMs: 45_000, intervalMs: 1_000, what: 'the cleaner to drop the superseded record' },
      );
    } finally {
      await producer.disconnect();
    }
    const remaining = await readTopic(ctx.kafka, topic);
    expect(remaining.some((m) => m.key === 'kept' && m.value === 'other subject')).toBe(true);
  });
});

/** Reads a topic from its beginning up to its current end with a throwaway consumer group. */
async function readTopic(kafka: Kafka, topic: string): Promise<Array<{ key?: string; value: string | null }>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.map((p) => [p.partition, BigInt(p.high)]));
  const out: Array<{ key?: string; value: string | null }> = [];
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = () => [...remaining.values()].every((high) => high === 0n);
    for (const [partition, high] of remaining) if (high === 0n) remaining.delete(partition);
    if (remaining.size === 0) return out;
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({ key: message.key?.toString(), value: message.value?.toString() ?? null });
        if (BigInt(message.offset) + 1n >= (remaining.get(partition) ?? 0n)) remaining.set(partition, 0n);
      },
    });
    await waitFor(done, { what: `the end of ${topic}` });
    return out;
  } finally {
    await consumer.disconnect();
  }
}
