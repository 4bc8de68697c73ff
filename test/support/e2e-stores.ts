import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { endpoints } from './endpoints.js';
import { uniqueName } from './names.js';
import { pgContext, type PgContext } from './pg-context.js';

/**
 * The names and store clients of one end-to-end test, and on disposal the removal of all it
 * names: the replication slot `<id>_slot`, publication `<id>_pub`, tracker schema `<id>_tracker`
 * and the test's schema in PostgreSQL, Elasticsearch indices `<prefix>-*`, the BigQuery dataset,
 * Kafka topics `<prefix>.*` and Redis keys `<prefix>:*`; then the clients are closed.
 *
 *   await using stores = await e2eStores({ name: 'exact', schema: 'Exact' });
 *   const { id, prefix: p, schemaSql: q, db, redis } = stores;
 *   const yaml = `${stores.catalogHead}subjects: ...`;
 */
export interface E2eStoresOptions {
  /** What the test's unique name starts with (lowercase). */
  name: string;
  /** What the name of the test's PostgreSQL schema starts with (mixed case, so it is quoted). */
  schema: string;
}

export interface E2eStores extends AsyncDisposable {
  /** The test's unique name: the slot, publication, tracker schema and dataset are named after it. */
  id: string;
  /** The prefix of the test's index, topic and key names: the id with dashes. */
  prefix: string;
  /** The test's schema as SQL names it, quoted. */
  schemaSql: string;
  dataset: string;
  /** The catalog's source and kafka sections, naming the slot, publication and erasure topic removed on disposal. */
  catalogHead: string;
  db: PgContext;
  redis: Redis;
  es: Client;
  bq: ReturnType<typeof createBigQueryClient>;
  kafka: kafkajs.Kafka;
  admin: kafkajs.Admin;
}

export async function e2eStores(options: E2eStoresOptions): Promise<E2eStores> {
  const e = endpoints();
  const id = uniqueName(options.name);
  const prefix = id.replaceAll('_', '-');
  const schemaSql = `"${options.schema}_${id.slice(options.name.length + 1)}"`;
  const dataset = id;
  const catalogHead = `
source: { url: "${e.databaseUrl}", publication: ${id}_pub, slot: ${id}_slot, heartbeatIntervalMs: 1000 }
kafka:
  brokers: ${e.kafkaBrokers.join(',')}
  schemaRegistry: ${e.schemaRegistryUrl}
  topics: { erasures: ${prefix}.subject-erased }
`;
  const db = await pgContext();
  const redis = new Redis(e.redisUrl);
  const es = new Client({ node: e.elasticsearchUrl });
  const bq = createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint });
  const kafka = new kafkajs.Kafka({ brokers: e.kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  return {
    id,
    prefix,
    schemaSql,
    dataset,
    catalogHead,
    db,
    redis,
    es,
    bq,
    kafka,
    admin,
    async [Symbol.asyncDispose]() {
      try {
        await db.client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [`${id}_slot`]).catch(() => undefined);
        await db.client.query(`DROP PUBLICATION IF EXISTS ${id}_pub`);
        await db.client.query(`DROP SCHEMA IF EXISTS ${schemaSql} CASCADE`);
        await db.client.query(`DROP SCHEMA IF EXISTS ${id}_tracker CASCADE`);
        await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true });
        await bq.dataset(dataset).delete({ force: true }).catch(() => undefined);
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
        if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
        await admin.disconnect();
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.unlink(...keys);
        redis.disconnect();
        await es.close();
      } finally {
        await db[Symbol.asyncDispose]();
      }
    },
  };
}
