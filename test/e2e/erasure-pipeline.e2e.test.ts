import { randomUUID } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { createConnector } from '../../connectors/connector-factory.js';
import { topologyOf } from '../../src/kafka/topology.js';
import { SinkRunner, type ErasureAck } from '../../consumers/sink-runner.js';
import { configuredSinks, type SinkName } from '../../src/catalog/sinks.js';
import { readTopic } from '../../src/kafka/topic-reader.js';
import { cdcFixture } from '../support/cdc-fixture.js';
import { endpoints } from '../support/endpoints.js';
import { EventCollector } from '../support/event-collector.js';
import { uniqueName } from '../support/names.js';
import { waitFor } from '../support/wait-for.js';
import { createTopicsWithLeaders } from '../support/kafka-context.js';

// The whole path against the real stack: a customer deleted in PostgreSQL is erased from Redis,
// Elasticsearch, BigQuery and two compacted topics by four independent consumer groups, each
// acknowledging every target; neighbours stay untouched.
describe('erasure pipeline, end to end', () => {
  it('erases a deleted subject from every store, catches up a stopped sink, dead-letters poison', async () => {
    const e = endpoints();
    const p = uniqueName('e2e').replaceAll('_', '-');
    const dataset = uniqueName('e2e');
    const [profilesTopic, ordersTopic] = [`lethe.test.profiles.${p}`, `lethe.test.orders.${p}`];
    await using fx = await cdcFixture({
      sinks: (schema) => `  settings: { retryInitialMs: 20, retryMaxMs: 200, maxBatchEvents: 100 }
  redis:
    url: ${e.redisUrl}
    customer:
      keys: ["${p}:customer:{subject}", "${p}:session:{subject}:*"]
      hashFields: [{ key: "${p}:emails", field: "{subject}" }]
      related: { '"${schema}"."Orders"': ["${p}:order:{row.id}"] }
  elasticsearch:
    node: ${e.elasticsearchUrl}
    customer:
      - { index: "${p}-customers", match: customer_id, action: delete }
      - { index: "${p}-orders", match: customer_id, action: { anonymize: [email] } }
  bigquery:
    projectId: ${e.bigqueryProjectId}
    apiEndpoint: ${e.bigqueryApiEndpoint}
    customer:
      - { table: ${dataset}.events, match: customer_id, action: delete }
      - { table: ${dataset}.orders, match: customer_id, action: { anonymize: { email: null, name: { literal: "Deleted customer" } } } }
  compacted:
    customer:
      - { topic: ${profilesTopic}, key: "{subject}" }
      - { topic: ${ordersTopic}, key: "{row.id}", related: '"${schema}"."Orders"' }
`,
    });
    const catalog = fx.catalog;
    const redis = new Redis(e.redisUrl);
    const es = new Client({ node: e.elasticsearchUrl });
    const bq = createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint });
    const topology = topologyOf(catalog);
    const dlqTopics = Object.fromEntries(configuredSinks(catalog.sinks).map((s) => [s, topology.dlq(s)])) as Record<SinkName, string>;
    await createTopicsWithLeaders(fx.kafka.admin, {
      topics: [
        ...[profilesTopic, ordersTopic].map((topic) => ({ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] })),
      ],
    });
    const [ds] = await bq.createDataset(dataset);
    await using _cleanup = {
      [Symbol.asyncDispose]: async () => {
        await fx.kafka.admin.deleteTopics({ topics: [profilesTopic, ordersTopic] }).catch(() => undefined);
        await es.indices.delete({ index: `${p}-*`, ignore_unavailable: true });
        await ds.delete({ force: true });
        const keys = await redis.keys(`${p}:*`);
        if (keys.length > 0) await redis.unlink(...keys);
        redis.disconnect();
        await es.close();
      },
    };
    for (const index of [`${p}-customers`, `${p}-orders`]) {
      await es.indices.create({ index, settings: { number_of_replicas: 0 }, mappings: { properties: { customer_id: { type: 'keyword' }, email: { type: 'keyword' } } } });
    }
    await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${dataset}.events\` (customer_id STRING, kind STRING)` });
    await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${dataset}.orders\` (customer_id STRING, email STRING, name STRING, total INT64)` });

    // Three customers: the subject, a neighbour who stays, and a later subject for the catch-up.
    const [subject, neighbour, later] = [randomUUID(), randomUUID(), randomUUID()];
    const orderIds: Record<string, string> = {};
    const producer = fx.kafka.kafka.producer();
    await producer.connect();
    for (const id of [subject, neighbour, later]) {
      const email = `${id.slice(0, 6)}@seeded.example`;
      await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, $2)`, [id, email]);
      const { rows } = await fx.db.client.query<{ id: string }>(`INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'book') RETURNING id::text`, [id]);
      orderIds[id] = rows[0]!.id;
      await redis.set(`${p}:customer:${id}`, email);
      await redis.set(`${p}:session:${id}:1`, 's');
      await redis.set(`${p}:order:${orderIds[id]}`, 'order');
      await redis.hset(`${p}:emails`, id, email);
      await es.bulk({
        refresh: true,
        operations: [{ index: { _index: `${p}-customers` } }, { customer_id: id, email }, { index: { _index: `${p}-orders` } }, { customer_id: id, email }],
      });
      await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${dataset}.events\` (customer_id, kind) VALUES (@id, 'visit')`, params: { id } });
      await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${dataset}.orders\` (customer_id, email, name, total) VALUES (@id, @email, 'Name', 10)`, params: { id, email } });
      await producer.send({ topic: profilesTopic, messages: [{ key: id, value: email }] });
      await producer.send({ topic: ordersTopic, messages: [{ key: orderIds[id]!, value: 'order' }] });
    }
    await producer.disconnect();

    const acks = await EventCollector.start<ErasureAck>(fx.kafka.kafka, e.schemaRegistryUrl, catalog.kafka.topics.acks);
    await using _acks = acks;
    const runners = new Map<SinkName, () => Promise<void>>();
    const startSink = (sink: SinkName) => {
      const controller = new AbortController();
      const running = new SinkRunner({
        catalog,
        connector: createConnector(sink, catalog, fx.logger),
        logger: fx.logger,
      }).run(controller.signal);
      runners.set(sink, async () => {
        controller.abort();
        await running;
      });
    };
    await using _runners = { [Symbol.asyncDispose]: async () => void (await Promise.all([...runners.values()].map((stop) => stop()))) };
    for (const sink of configuredSinks(catalog.sinks)) startSink(sink);
    fx.startReader();

    // Targets per erasure: redis 4 (keys, pattern, hash field, related), elasticsearch 2,
    // bigquery 2, compacted 2.
    const TARGETS = { redis: 4, elasticsearch: 2, bigquery: 2, compacted: 2 } as const;
    const allTargets = Object.values(TARGETS).reduce((a, b) => a + b, 0);
    const acksFor = (id: string) => acks.values.filter((a) => a.subjectId === id && !a.replay);
    const waitForAcks = (id: string, count: number) =>
      waitFor(() => (acksFor(id).length >= count ? acksFor(id) : undefined), { timeoutMs: 90_000, intervalMs: 200, what: `${count} acks for ${id}` });

    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subject]);
    const first = await waitForAcks(subject, allTargets);
    for (const [sink, n] of Object.entries(TARGETS)) {
      expect(first.filter((a) => a.sink === sink), sink).toHaveLength(n);
    }
    expect(first.every((a) => a.outcome === 'APPLIED' && a.residual === 0), JSON.stringify(first.filter((a) => a.outcome !== 'APPLIED'))).toBe(true);
    expect(new Set(first.map((a) => a.eventId)).size).toBe(1);

    const checkErased = async (id: string) => {
      expect(await redis.exists(`${p}:customer:${id}`, `${p}:session:${id}:1`, `${p}:order:${orderIds[id]}`)).toBe(0);
      expect(await redis.hexists(`${p}:emails`, id)).toBe(0);
      expect((await es.count({ index: `${p}-customers`, query: { term: { customer_id: id } } })).count).toBe(0);
      const orders = await es.search<{ email: string | null }>({ index: `${p}-orders`, query: { term: { customer_id: id } } });
      expect(orders.hits.hits.map((h) => h._source!.email)).toEqual([null]);
      const [events] = await bq.query({ query: `SELECT COUNT(*) AS n FROM \`${e.bigqueryProjectId}.${dataset}.events\` WHERE customer_id = @id`, params: { id } });
      expect(events).toEqual([{ n: 0 }]);
      const [rows] = await bq.query({ query: `SELECT email, name, total FROM \`${e.bigqueryProjectId}.${dataset}.orders\` WHERE customer_id = @id`, params: { id } });
      expect(rows).toEqual([{ email: null, name: 'Deleted customer', total: 10 }]);
    };
    const tombstones = async (topic: string) => {
      const keys: string[] = [];
      await readTopic(fx.kafka.kafka, topic, async (m) => void (m.value === null && keys.push(m.key!.toString())));
      return keys;
    };
    await checkErased(subject);
    expect(await tombstones(profilesTopic)).toEqual([subject]);
    expect(await tombstones(ordersTopic)).toEqual([orderIds[subject]]);

    // A sink stopped during an erasure catches up when it starts again; nothing is lost.
    await runners.get('elasticsearch')!();
    runners.delete('elasticsearch');
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [later]);
    await waitForAcks(later, allTargets - TARGETS.elasticsearch);
    expect((await es.count({ index: `${p}-customers`, query: { term: { customer_id: later } } })).count).toBe(1);
    startSink('elasticsearch');
    const caughtUp = await waitForAcks(later, allTargets);
    expect(caughtUp.filter((a) => a.sink === 'elasticsearch').every((a) => a.outcome === 'APPLIED')).toBe(true);
    await checkErased(later);

    // The neighbour is untouched everywhere.
    expect(await redis.exists(`${p}:customer:${neighbour}`, `${p}:session:${neighbour}:1`, `${p}:order:${orderIds[neighbour]}`)).toBe(3);
    expect(await redis.hexists(`${p}:emails`, neighbour)).toBe(1);
    expect((await es.count({ index: `${p}-customers`, query: { term: { customer_id: neighbour } } })).count).toBe(1);
    const [kept] = await bq.query({ query: `SELECT email FROM \`${e.bigqueryProjectId}.${dataset}.orders\` WHERE customer_id = @id`, params: { id: neighbour } });
    expect(kept).toEqual([{ email: `${neighbour.slice(0, 6)}@seeded.example` }]);
    expect(await tombstones(profilesTopic)).not.toContain(neighbour);

    // A poison record on the erasures topic: every sink dead-letters it with a failed ack and
    // goes on to the next good event.
    const poison = fx.kafka.kafka.producer();
    await poison.connect();
    await poison.send({ topic: catalog.kafka.topics.erasures, messages: [{ key: `customer:${neighbour}`, value: Buffer.from('\u0000garbage') }] });
    await poison.disconnect();
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [neighbour]);
    const afterPoison = await waitFor(
      () => {
        const failed = acksFor(neighbour).filter((a) => a.outcome === 'FAILED' && a.eventId.startsWith('undecodable:'));
        const applied = acksFor(neighbour).filter((a) => !a.eventId.startsWith('undecodable:'));
        return failed.length >= 4 && applied.length >= allTargets ? { failed, applied } : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'failed acks for the poison and acks for the next event' },
    );
    expect(new Set(afterPoison.failed.map((a) => a.sink))).toEqual(new Set(Object.keys(TARGETS)));
    for (const topic of Object.values(dlqTopics)) {
      const dead: string[] = [];
      await readTopic(fx.kafka.kafka, topic, async (m) => void dead.push(m.headers?.['lethe-dlq-reason']?.toString() ?? ''));
      expect(dead, topic).toHaveLength(1);
      expect(dead[0]).toMatch(/undecodable/);
    }
    await checkErased(neighbour);
    expect(fx.logLines.some((l) => l.includes('@seeded.example'))).toBe(false);
  });
});
