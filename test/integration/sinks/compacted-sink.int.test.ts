import { describe, expect, it } from 'vitest';
import { CompactedTopicConnector } from '../../../connectors/compacted-topic-connector.js';
import { readTopic } from '../../../src/kafka/topic-reader.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { createTopicsWithLeaders } from '../../support/kafka-context.js';

describe('compacted topics sink', () => {
  it('tombstones the subject and its related rows, refuses a topic that does not compact', async () => {
    const suffix = uniqueName('t');
    const [profiles, orders, plain] = ['profiles', 'orders', 'plain'].map((t) => `lethe.test.${t}.${suffix}`);
    await using fx = await sinkFixture(`  compacted:
    user:
      - { topic: ${profiles}, key: "{subject}" }
      - { topic: ${orders}, key: "order-{row.id}", related: public.orders }
      - { topic: ${plain}, key: "{subject}" }
`);
    const compact = [{ name: 'cleanup.policy', value: 'compact' }, { name: 'delete.retention.ms', value: '100' }, { name: 'max.compaction.lag.ms', value: '60000' }];
    await createTopicsWithLeaders(fx.kafka.admin, {
      topics: [
        { topic: profiles!, numPartitions: 1, configEntries: compact },
        { topic: orders!, numPartitions: 1, configEntries: compact },
        { topic: plain!, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] },
      ],
    });
    await using _ = { [Symbol.asyncDispose]: async () => void (await fx.kafka.admin.deleteTopics({ topics: [profiles!, orders!, plain!] })) };
    const producer = fx.kafka.kafka.producer();
    await producer.connect();
    await producer.send({ topic: profiles!, messages: [{ key: '42', value: 'profile of 42' }, { key: '43', value: 'profile of 43' }] });
    await producer.send({ topic: orders!, messages: [{ key: 'order-1', value: 'o1' }, { key: 'order-2', value: 'o2' }, { key: 'order-3', value: 'o3 of 43' }] });
    await producer.disconnect();

    const connector = new CompactedTopicConnector(fx.catalog.sinks.compacted!, fx.kafka.kafka, fx.catalog.kafka.maxMessageBytes, fx.catalog.kafka.schemaRegistry);
    const event = userErased('42', [
      { table: 'public.orders', key: [{ column: 'id', value: '1' }], operation: 'DELETE' },
      { table: 'public.orders', key: [{ column: 'id', value: '2' }], operation: 'DELETE' },
      { table: 'public.messages', key: [{ column: 'id', value: '7' }], operation: 'DELETE' },
    ]);
    const [results] = await connector.apply([event]);
    await connector.close();
    expect(results![0]).toMatchObject({ affected: 1, residual: 0, details: { 'cleanup.policy': 'compact', 'delete.retention.ms': '100', 'max.compaction.lag.ms': '60000' } });
    expect(results![1]).toMatchObject({ affected: 2, residual: 0 });
    expect(results![2]).toMatchObject({ affected: 0, failed: expect.stringMatching(/cleanup.policy=delete/) });

    const read = async (topic: string) => {
      const out: Array<[string, string | null]> = [];
      await readTopic(fx.kafka.kafka, topic, async (m) => void out.push([m.key!.toString(), m.value?.toString() ?? null]));
      return out;
    };
    expect((await read(profiles!)).filter(([, v]) => v === null).map(([k]) => k)).toEqual(['42']);
    expect((await read(orders!)).filter(([, v]) => v === null).map(([k]) => k)).toEqual(['order-1', 'order-2']);
    expect(await read(plain!)).toEqual([]);
  });
});
