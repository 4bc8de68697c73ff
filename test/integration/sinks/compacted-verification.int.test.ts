import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { CompactedTopicConnector } from '../../../connectors/compacted-topic-connector.js';
import { outcomeOf } from '../../../connectors/sink-connector.js';
import { foldErasure, type AckRecord } from '../../../src/tracker/erasure-status.js';
import { buildReport } from '../../../src/tracker/proof-report.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { waitFor } from '../../support/wait-for.js';
import { sinkFixture, userErased, type SinkFixture } from '../../support/sink-fixture.js';

const COMPACT = [
  { name: 'cleanup.policy', value: 'compact' },
  { name: 'delete.retention.ms', value: '100' },
  { name: 'max.compaction.lag.ms', value: '60000' },
];

/** A fixture with one compacted topic (3 partitions) for subject `user`, keyed as `keyFormat` says. */
async function topicFixture(keyFormat: string, verification = '') {
  const topic = `lethe.test.profiles.${uniqueName('t')}`;
  const fx = await sinkFixture(`  compacted:
${verification}    user:
      - { topic: ${topic}, key: "{subject}", keyFormat: ${keyFormat} }
`);
  await fx.kafka.admin.createTopics({ topics: [{ topic, numPartitions: 3, configEntries: COMPACT }] });
  fx.kafka.track(topic);
  // kafkajs' waitForLeaders gives up on a metadata answer that does not know the topic yet.
  await waitFor(async () => (await fx.kafka.admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.filter((p) => p.leader >= 0).length === 3, { what: `leaders of ${topic}` });
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

/** Registers a string Avro key schema under the topic's key subject; its id. */
async function avroStringKeys(topic: string): Promise<number> {
  // Through the REST API: the client library registers named (record) Avro schemas only.
  const response = await fetch(new URL(`/subjects/${encodeURIComponent(`${topic}-key`)}/versions`, endpoints().schemaRegistryUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: '"string"' }),
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
    expect(result.failed).toBe(`topic ${t.topic} holds Confluent-framed keys (schema id ${id}; 1 records read), but the catalog declares keyFormat string: a string tombstone erases none of them`);
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
});
