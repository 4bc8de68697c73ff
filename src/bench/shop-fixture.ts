import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import type pg from 'pg';
import { deleteValueSubject } from '../events/event-codec.js';
import type { Endpoints } from '../stack/endpoints.js';

const { Partitioners } = kafkajs;

/**
 * The sink stages' shop: users with one order each in PostgreSQL (orders cascade, REPLICA
 * IDENTITY FULL, so each erasure carries a related row), and each user's copies: in Redis two
 * literal-ish keys (one reached through a pattern), a hash field and a set member; in
 * Elasticsearch a document with a keyword field; in a compacted topic the profile (key = the
 * subject) and the order (key = order-<id>, a related row). The references get the same data
 * under ids no erasure names (`REFERENCE_BASE` + i), seeded beside Lethe's in the same stores.
 */
export const REFERENCE_BASE = 1_000_000_000;
export const ORDER_BASE = 5_000_000_000;

export class Shop {
  readonly schema: string;
  readonly dash: string;
  readonly index: string;
  readonly topics: { erasures: string; acks: string; status: string; profiles: string; referenceProfiles: string };
  readonly redisPrefix: string;
  readonly redis: Redis;
  readonly es: Client;
  private producer: Producer | undefined;

  constructor(
    readonly e: Endpoints,
    readonly run: string,
    readonly db: pg.Client,
    readonly kafka: Kafka,
    readonly admin: Admin,
  ) {
    this.schema = `${run}_shop`;
    this.dash = run.replaceAll('_', '-');
    this.index = `${this.dash}-users`;
    const t = `lethe.bench.${run}`;
    this.topics = { erasures: `${t}.erasures`, acks: `${t}.acks`, status: `${t}.status`, profiles: `${t}.profiles`, referenceProfiles: `${t}.reference-profiles` };
    this.redisPrefix = `${run}`;
    this.redis = new Redis(e.redisUrl);
    this.es = new Client({ node: e.elasticsearchUrl });
  }

  get publication() {
    return `${this.schema}_pub`;
  }

  get slot() {
    return `${this.schema}_slot`;
  }

  /** Redis names for a subject (the catalog's templates, expanded). */
  redisKeys(id: string) {
    const p = this.redisPrefix;
    return { user: `${p}:user:${id}`, sessions: [`${p}:sess:${id}:a`, `${p}:sess:${id}:b`], sessionPattern: `${p}:sess:${id}:*`, emails: `${p}:emails`, active: `${p}:active` };
  }

  profileKeys(id: string): string[] {
    return [id, `order-${orderOf(id)}`];
  }

  async create(): Promise<void> {
    const s = this.schema;
    await this.db.query(`CREATE SCHEMA ${s}`);
    await this.db.query(`CREATE TABLE ${s}.users (id bigint PRIMARY KEY)`);
    await this.db.query(`CREATE TABLE ${s}.orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES ${s}.users (id) ON DELETE CASCADE)`);
    // As an application indexes it: without, each user's delete scans every order for its cascade
    // (a millisecond of the server's CPU per erasure at 20,000 orders, a quarter of this machine's).
    await this.db.query(`CREATE INDEX ON ${s}.orders (user_id)`);
    await this.db.query(`ALTER TABLE ${s}.orders REPLICA IDENTITY FULL`);
    await this.db.query(`CREATE PUBLICATION ${this.publication} FOR TABLE ${s}.users, ${s}.orders`);
    await this.db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [this.slot]);
    await this.db.query(`CREATE PROCEDURE ${s}.erase(a bigint, b bigint) LANGUAGE plpgsql AS $$
      DECLARE r bigint; BEGIN FOR r IN SELECT id FROM ${s}.users WHERE id BETWEEN a AND b ORDER BY id LOOP DELETE FROM ${s}.users WHERE id = r; COMMIT; END LOOP; END $$`);
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: this.topics.erasures, numPartitions: 6 },
        { topic: this.topics.acks, numPartitions: 6 },
        { topic: this.topics.profiles, numPartitions: 6, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
        { topic: this.topics.referenceProfiles, numPartitions: 6, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ],
    });
    await this.es.indices.create({ index: this.index, settings: { number_of_replicas: 0 }, mappings: { properties: { user_id: { type: 'keyword' } } } });
    this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
  }

  /** Users (and their orders) in PostgreSQL, ids from..to inclusive. */
  async addUsers(from: number, to: number): Promise<void> {
    await this.db.query(`INSERT INTO ${this.schema}.users SELECT generate_series($1::bigint, $2::bigint)`, [from, to]);
    await this.db.query(`INSERT INTO ${this.schema}.orders SELECT g + ${ORDER_BASE}, g FROM generate_series($1::bigint, $2::bigint) g`, [from, to]);
  }

  /** Redis copies of these subjects (Lethe's or the reference's). */
  async seedRedis(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 1000)) {
        const k = this.redisKeys(id);
        pipeline.set(k.user, 'profile').set(k.sessions[0]!, 's').set(k.sessions[1]!, 's').hset(k.emails, id, `${id}@bench.example`).sadd(k.active, id);
      }
      await pipeline.exec();
    }
  }

  async seedElasticsearch(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 2000) {
      await this.es.bulk({ operations: ids.slice(i, i + 2000).flatMap((id) => [{ index: { _index: this.index } }, { user_id: id }]) });
    }
    await this.es.indices.refresh({ index: this.index });
  }

  /** The profile and the order of each subject, on `topic` (the catalog's, or the reference's own). */
  async seedCompacted(ids: readonly string[], topic = this.topics.profiles): Promise<void> {
    for (let i = 0; i < ids.length; i += 2000) {
      const messages = ids.slice(i, i + 2000).flatMap((id) => this.profileKeys(id).map((key) => ({ key, value: 'profile' })));
      await this.producer!.send({ topic, acks: -1, messages });
    }
  }

  async seed(ids: readonly string[]): Promise<void> {
    await this.seedRedis(ids);
    await this.seedElasticsearch(ids);
    await this.seedCompacted(ids);
  }

  /** The bench's catalog; `bigquery` when the BigQuery sink is to be configured too. */
  catalog(bigquery?: { dataset: string }): object {
    const e = this.e;
    const k = this.redisKeys('{subject}');
    return {
      source: { url: e.databaseUrl, publication: this.publication, slot: this.slot, heartbeatIntervalMs: 1000 },
      kafka: { brokers: e.kafkaBrokers, schemaRegistry: e.schemaRegistryUrl, topics: { erasures: this.topics.erasures, acks: this.topics.acks, status: this.topics.status }, groupPrefix: `lethe.bench.${this.run}` },
      tracker: { schema: `${this.run}_tracker`, port: 0 },
      subjects: { user: { table: `${this.schema}.users`, key: 'id', related: [{ table: `${this.schema}.orders`, subjectColumn: 'user_id', key: 'id' }] } },
      sinks: {
        redis: { url: e.redisUrl, user: { keys: [k.user, k.sessionPattern], hashFields: [{ key: k.emails, field: '{subject}' }], setMembers: [{ key: k.active, member: '{subject}' }] } },
        elasticsearch: { node: e.elasticsearchUrl, user: [{ index: this.index, match: 'user_id', action: 'delete' }] },
        compacted: { user: [{ topic: this.topics.profiles, key: '{subject}' }, { topic: this.topics.profiles, key: 'order-{row.id}', related: `${this.schema}.orders` }] },
        ...(bigquery
          ? { bigquery: { projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint, user: [{ table: `${bigquery.dataset}.events`, match: 'user_id', action: 'delete' }] } }
          : {}),
      },
    };
  }

  async drop(): Promise<void> {
    const ignore = () => undefined;
    await this.producer?.disconnect().catch(ignore);
    await this.db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [this.slot]).catch(ignore);
    await this.db.query(`DROP PUBLICATION IF EXISTS ${this.publication}`).catch(ignore);
    await this.db.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`).catch(ignore);
    await this.db.query(`DROP SCHEMA IF EXISTS ${this.run}_tracker CASCADE`).catch(ignore);
    const sinkTopics = ['redis', 'elasticsearch', 'bigquery', 'compacted'].flatMap((s) => [`lethe.bench.${this.run}.dlq.${s}`, `lethe.bench.${this.run}.retry.${s}`]);
    const existing = new Set(await this.admin.listTopics().catch(() => [] as string[]));
    const topics = [...Object.values(this.topics), ...sinkTopics].filter((t) => existing.has(t));
    if (topics.length > 0) await this.admin.deleteTopics({ topics }).catch(ignore);
    for (const topic of [this.topics.erasures, this.topics.acks, this.topics.status]) await deleteValueSubject(this.e.schemaRegistryUrl, topic).catch(ignore);
    await this.es.indices.delete({ index: this.index, ignore_unavailable: true }).catch(ignore);
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.redisPrefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    this.redis.disconnect();
    await this.es.close();
  }
}

export const orderOf = (id: string) => String(BigInt(id) + BigInt(ORDER_BASE));

export const idRange = (from: number, count: number) => Array.from({ length: count }, (_, i) => String(from + i));
