import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { alterTopicConfig, describeTopicConfig } from '../../../src/kafka/topic-config.js';
import { erasureLogRetentionMs, planInit } from '../../../src/setup/init-plan.js';
import { checkKafka } from '../../../src/setup/kafka-checks.js';
import { endpoints } from '../../support/endpoints.js';
import { createTopicsWithLeaders, kafkaContext } from '../../support/kafka-context.js';

const DAY = 86_400_000;

describe('the erasure log retention against a real broker', () => {
  it('doctor warns when the log expires before a backup; init raises it and keeps the topic\'s other settings', async () => {
    await using kafka = await kafkaContext();
    const topic = kafka.topicName('lethe.test.Erasures');
    await createTopicsWithLeaders(kafka.admin, {
      topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: String(7 * DAY) }, { name: 'segment.ms', value: '3600000' }, { name: 'min.insync.replicas', value: '1' }] }],
    });
    const e = endpoints();
    const catalog = parseCatalog(
      `source: { url: "${e.databaseUrl}" }
kafka: { brokers: "${e.kafkaBrokers.join(',')}", schemaRegistry: "${e.schemaRegistryUrl}", topics: { erasures: ${topic} } }
subjects: { member: { table: members, key: id } }
backups: [{ name: warehouse-snapshots, retention: 30d }]
`,
      {},
    );

    expect((await checkKafka(catalog))[0]).toMatchObject({ level: 'warn', subject: `topic ${topic}`, message: expect.stringMatching(/^retention 1w is shorter than backup warehouse-snapshots's 30d/) });

    const retention = await describeTopicConfig(kafka.admin, topic, ['retention.ms']);
    const steps = planInit(catalog, [], new Set([topic]), Number(retention!['retention.ms']));
    const raise = steps.find((s) => s.kind === 'topic-config');
    expect(raise).toMatchObject({ topic, configs: { 'retention.ms': String(erasureLogRetentionMs(catalog)) } });
    await alterTopicConfig(kafka.admin, topic, raise!.kind === 'topic-config' ? raise!.configs : {});

    expect(await describeTopicConfig(kafka.admin, topic, ['retention.ms', 'segment.ms', 'min.insync.replicas'])).toEqual({
      'retention.ms': String(60 * DAY),
      'segment.ms': '3600000',
      'min.insync.replicas': '1',
    });
    expect((await checkKafka(catalog))[0]).toMatchObject({ level: 'ok', message: 'retention 60d outlives every backup' });

    const missing = parseCatalog(
      `source: { url: x }\nkafka: { brokers: "${e.kafkaBrokers.join(',')}", schemaRegistry: "http://r", topics: { erasures: ${kafka.topicName('lethe.test.absent')} } }\nsubjects: { m: { table: t, key: id } }\n`,
      {},
    );
    expect((await checkKafka(missing))[0]).toMatchObject({ level: 'problem', message: 'does not exist', fix: 'lethe init' });
  });
});
