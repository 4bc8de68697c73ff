import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { CompactedTopicConnector } from '../../../connectors/compacted-topic-connector.js';
import { SinkRunner, type ErasureAck } from '../../../consumers/sink-runner.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';
import { parseLsn } from '../../../src/cdc/lsn.js';
import { EventCodec } from '../../../src/events/event-codec.js';
import { RECORD_BATCH_OVERHEAD, recordBytes } from '../../../src/kafka/record-size.js';
import { readTopic } from '../../../src/kafka/topic-reader.js';
import { expectedTargetsOf } from '../../../src/tracker/erasure-status.js';
import { StatusStore, type StoredAck } from '../../../src/tracker/status-store.js';
import { factsOf } from '../../../src/tracker/tracker-service.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { endpoints } from '../../support/endpoints.js';
import { EventCollector } from '../../support/event-collector.js';
import { uniqueName } from '../../support/names.js';
import { waitFor } from '../../support/wait-for.js';
import { createTopicsWithLeaders } from '../../support/kafka-context.js';

const ROWS = 100_000;

describe('an erasure too large for one Kafka record', () => {
  it('deletes a subject with 100,000 related rows in one transaction: parts under the limit, the slot moves on, every part applied and folded into one erasure', async () => {
    const tombstones = `lethe.test.orders.${uniqueName('t')}`;
    await using fx = await cdcFixture({
      sinks: (schema) => `  compacted:\n    customer:\n      - { topic: ${tombstones}, key: "order-{row.id}", related: '"${schema}"."Orders"' }\n`,
    });
    // One partition: all 100,000 tombstones of the erasure meet in one partition's batches.
    await createTopicsWithLeaders(fx.kafka.admin, { topics: [{ topic: tombstones, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await using _topic = { [Symbol.asyncDispose]: async () => void (await fx.kafka.admin.deleteTopics({ topics: [tombstones] })) };
    const { maxMessageBytes } = fx.catalog.kafka;

    const { rows } = await fx.db.client.query<{ id: string }>(`INSERT INTO ${fx.users} ("UserId", email) VALUES (gen_random_uuid(), 'big@example.test') RETURNING "UserId" AS id`);
    const userId = rows[0]!.id;
    await fx.db.client.query(`INSERT INTO ${fx.orders} ("UserRef", item) SELECT $1, 'item ' || g FROM generate_series(1, ${ROWS}) AS g`, [userId]);

    fx.startReader();
    await fx.slotCaughtUp(); // streaming, and past the inserts
    const started = Date.now();
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [userId]); // ON DELETE CASCADE: one transaction
    const { rows: lsn } = await fx.db.client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    await fx.slotCaughtUp();
    expect(parseLsn(await fx.confirmedFlushLsn())).toBeGreaterThanOrEqual(parseLsn(lsn[0]!.lsn));
    const publishedIn = Date.now() - started;

    // The parts as the broker holds them: each record (with its batch's overhead) under the limit.
    const codec = new EventCodec<SubjectErased>(new SchemaRegistry({ host: endpoints().schemaRegistryUrl }), fx.catalog.kafka.topics.erasures, 'subject-erased');
    const parts: SubjectErased[] = [];
    await readTopic(fx.kafka.kafka, fx.catalog.kafka.topics.erasures, async (m) => {
      expect(RECORD_BATCH_OVERHEAD + recordBytes(m)).toBeLessThanOrEqual(maxMessageBytes);
      parts.push(await codec.decode(m.value!));
    });
    parts.sort((a, b) => a.part - b.part);
    expect(parts.length).toBeGreaterThan(1);
    expect(new Set(parts.map((p) => p.eventId)).size).toBe(1);
    expect(parts.map((p) => [p.part, p.parts])).toEqual(parts.map((_, i) => [i + 1, parts.length]));
    expect(parts.reduce((n, p) => n + p.related.length, 0)).toBe(ROWS);
    expect(new Set(parts.flatMap((p) => p.related.map((r) => r.key[0]!.value))).size).toBe(ROWS);
    expect(fx.logLines.join('\n')).not.toContain('big@example.test');

    // A sink applies and acknowledges every part.
    const acks = await EventCollector.start<ErasureAck>(fx.kafka.kafka, endpoints().schemaRegistryUrl, fx.catalog.kafka.topics.acks);
    await using _acks = acks;
    const controller = new AbortController();
    const connector = new CompactedTopicConnector(fx.catalog.sinks.compacted!, fx.kafka.kafka, maxMessageBytes, endpoints().schemaRegistryUrl);
    const running = new SinkRunner({
      catalog: fx.catalog,
      connector,
      logger: fx.logger,
    }).run(controller.signal);
    await using _runner = {
      [Symbol.asyncDispose]: async () => {
        controller.abort();
        await running;
      },
    };
    await waitFor(() => acks.values.length >= parts.length, { timeoutMs: 30_000, what: `acks of ${parts.length} parts` });
    // The topic held no record of these orders: every tombstone written and verified, none affected.
    expect(acks.values.map((a) => [a.part, a.parts, a.outcome]).sort()).toEqual(parts.map((p) => [p.part, p.parts, 'NOTHING_TO_DO']));
    expect(acks.values.reduce((n, a) => n + Number(a.details.tombstones), 0)).toBe(ROWS);
    expect(acks.values.reduce((n, a) => n + Number(a.details.verified), 0)).toBe(ROWS);
    expect(acks.values.reduce((n, a) => n + Number(a.affected), 0)).toBe(0);
    const offsets = await fx.kafka.admin.fetchTopicOffsets(tombstones);
    expect(offsets.reduce((n, o) => n + Number(o.high), 0)).toBe(ROWS);

    // The tracker folds the parts into one complete erasure.
    const schema = uniqueName('lethe_parts');
    await using _schema = { [Symbol.asyncDispose]: async () => void (await fx.db.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
    const store = new StatusStore(endpoints().databaseUrl, schema, (type) => expectedTargetsOf(fx.catalog, type), 3_600_000);
    await using _store = { [Symbol.asyncDispose]: () => store.close() };
    await store.ensureSchema();
    const stored: StoredAck[] = acks.records.map((r) => ({ ...r.value, error: r.value.error ?? null, affected: Number(r.value.affected), residual: Number(r.value.residual), source: `acks/${r.partition}/${r.offset}` }));
    // The last part's facts arrive after every ack: pending (not known) until then.
    const early = await store.record(parts.slice(0, -1).map(factsOf), stored);
    expect(early.changed[0]).toMatchObject({ known: false, status: 'pending' });
    const { changed } = await store.record(parts.map(factsOf), stored);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      eventId: parts[0]!.eventId,
      known: true,
      status: 'complete',
      facts: { parts: parts.length, related: [{ table: `"${fx.schema}"."Orders"`, operation: 'DELETE', rows: ROWS }] },
      counts: { targets: 1, done: 1 },
    });
    expect(changed[0]!.targets[0]).toMatchObject({ state: 'nothing_to_do', affected: 0, parts: { done: parts.length, total: parts.length } });
    // Published well within the test's budget (a regression to one send per row would not be).
    expect(publishedIn).toBeLessThan(30_000);
  });
});
