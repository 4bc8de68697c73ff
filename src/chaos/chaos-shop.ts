import type { Client as EsClient } from '@elastic/elasticsearch';
import type { BigQuery } from '@google-cloud/bigquery';
import type { Redis } from 'ioredis';
import type { Admin, Producer } from 'kafkajs';
import pg from 'pg';
import { deleteValueSubject } from '../events/event-codec.js';
import type { Endpoints } from '../stack/endpoints.js';
import { orderIdsOf } from './chaos-subjects.js';

/**
 * The chaos run's shop: users with orders in a scratch PostgreSQL schema, copied into every
 * store the way an application would, and the catalog that tells Lethe where. Every name
 * carries the run's id, so a run touches nothing of anyone else's.
 */
export interface ShopNames {
  /** `chaos_<id>`: the PostgreSQL schema, the BigQuery dataset, the publication and slot prefix. */
  run: string;
  /** `chaos-<id>`: Redis keys, Kafka topics and Elasticsearch indices. */
  prefix: string;
  trackerSchema: string;
  topics: { erasures: string; acks: string; status: string; profiles: string; orders: string };
  indices: { users: string; orders: string };
}

export function shopNames(id: string): ShopNames {
  const run = `chaos_${id}`;
  const prefix = `chaos-${id}`;
  return {
    run,
    prefix,
    trackerSchema: `${run}_tracker`,
    topics: {
      erasures: `${prefix}.subject-erased`,
      acks: `${prefix}.acks`,
      status: `${prefix}.erasure-status`,
      profiles: `${prefix}.user-profiles`,
      orders: `${prefix}.orders`,
    },
    indices: { users: `${prefix}-users`, orders: `${prefix}-orders` },
  };
}

/** What the application copied of a user, and so what a neighbour must still have at the end. */
export const seeded = {
  email: (user: number) => `u${user}@chaos.example`,
  name: (user: number) => `User ${user}`,
  phone: (order: number) => `555-${order}`,
  profile: (user: number) => `profile-${user}`,
  session: (user: number, n: number) => `token-${user}-${n}`,
  order: (order: number) => `order-${order}`,
  eventKinds: ['login', 'purchase'] as const,
  sessions: [1, 2] as const,
};

export const redisKeys = (n: ShopNames) => ({
  user: (u: number) => `${n.prefix}:user:${u}`,
  session: (u: number, s: number) => `${n.prefix}:session:${u}:${s}`,
  order: (o: number) => `${n.prefix}:order:${o}`,
  emails: `${n.prefix}:user-emails`,
  online: `${n.prefix}:online-users`,
});

/** The catalog: every sink configured for the shop, defaults for everything a user would leave out. */
export function catalogYaml(n: ShopNames, e: Endpoints, trackerPort: number): string {
  const orders = `${n.run}.orders`;
  const k = redisKeys(n);
  return `# Written by the chaos run (src/chaos/chaos-shop.ts) for its scratch shop.
source:
  url: ${e.databaseUrl}
  publication: ${n.run}_pub
  slot: ${n.run}_slot
  heartbeatIntervalMs: 1000
kafka:
  brokers: ${e.kafkaBrokers.join(',')}
  schemaRegistry: ${e.schemaRegistryUrl}
  topics: { erasures: ${n.topics.erasures}, acks: ${n.topics.acks}, status: ${n.topics.status} }
subjects:
  user:
    table: ${n.run}.users
    key: id
    erasedWhen:
      - delete
      - update: { column: erased_at, becomes: not_null }
    related:
      - { table: ${orders}, subjectColumn: user_id, key: id }
sinks:
  redis:
    url: ${e.redisUrl}
    user:
      keys: ["${n.prefix}:user:{subject}", "${n.prefix}:session:{subject}:*"]
      hashFields: [{ key: "${k.emails}", field: "{subject}" }]
      setMembers: [{ key: "${k.online}", member: "{subject}" }]
      related: { ${orders}: ["${n.prefix}:order:{row.id}"] }
  elasticsearch:
    node: ${e.elasticsearchUrl}
    user:
      - { index: ${n.indices.users}, match: user_id, action: delete }
      - { index: ${n.indices.orders}, match: user_id, action: { anonymize: [email, name] } }
  bigquery:
    projectId: ${e.bigqueryProjectId}
    apiEndpoint: ${e.bigqueryApiEndpoint}
    batch: { maxSubjects: 500, maxWaitMs: 2000 }
    user:
      - { table: ${n.run}.events, match: user_id, action: delete }
      - { table: ${n.run}.orders, match: user_id, action: { anonymize: { email: null, name: { literal: "Deleted user" }, phone: hash } } }
  compacted:
    user:
      - { topic: ${n.topics.profiles}, key: "{subject}" }
      - { topic: ${n.topics.orders}, key: "{row.id}", related: ${orders} }
tracker:
  schema: ${n.trackerSchema}
  host: 127.0.0.1
  port: ${trackerPort}
`;
}

export interface ShopClients {
  db: pg.Client;
  redis: Redis;
  es: EsClient;
  bq: BigQuery;
  admin: Admin;
  producer: Producer;
  projectId: string;
  registryUrl: string;
}

const COMPACTED = [{ name: 'cleanup.policy', value: 'compact' }];

/** The source tables (orders carry user_id in their replica identity) and the stores' indices, tables and topics. */
export async function createShop(n: ShopNames, c: ShopClients): Promise<void> {
  const s = pg.escapeIdentifier(n.run);
  await c.db.query(`CREATE SCHEMA ${s}`);
  await c.db.query(`CREATE TABLE ${s}.users (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, erased_at timestamptz)`);
  await c.db.query(`CREATE TABLE ${s}.orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES ${s}.users (id) ON DELETE CASCADE, total numeric(10, 2) NOT NULL)`);
  await c.db.query(`CREATE INDEX ON ${s}.orders (user_id)`);
  await c.db.query(`ALTER TABLE ${s}.orders REPLICA IDENTITY FULL`);
  const keyword = { type: 'keyword' } as const;
  for (const index of [n.indices.users, n.indices.orders]) {
    await c.es.indices.create({
      index,
      settings: { number_of_replicas: 0 },
      mappings: { properties: { user_id: keyword, order_id: keyword, email: keyword, name: keyword } },
    });
  }
  await c.bq.createDataset(n.run);
  await c.bq.query({ query: `CREATE TABLE ${bqTable(c.projectId, n, 'events')} (user_id STRING, kind STRING)` });
  await c.bq.query({ query: `CREATE TABLE ${bqTable(c.projectId, n, 'orders')} (user_id STRING, order_id STRING, email STRING, name STRING, phone STRING)` });
  await c.admin.createTopics({
    waitForLeaders: true,
    topics: [n.topics.profiles, n.topics.orders].map((topic) => ({ topic, numPartitions: 3, configEntries: COMPACTED })),
  });
}

export function bqTable(projectId: string, n: ShopNames, table: 'events' | 'orders'): string {
  return `\`${projectId}.${n.run}.${table}\``;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Every user, with their orders, in PostgreSQL and in every store. */
export async function seedShop(n: ShopNames, c: ShopClients, users: number[]): Promise<void> {
  const s = pg.escapeIdentifier(n.run);
  const orders = users.flatMap((u) => orderIdsOf(u).map((o) => ({ o, u })));
  await c.db.query(`INSERT INTO ${s}.users (id, email, name) SELECT id, 'u' || id || '@chaos.example', 'User ' || id FROM unnest($1::bigint[]) AS id`, [users]);
  await c.db.query(`INSERT INTO ${s}.orders (id, user_id, total) SELECT o, u, 10 FROM unnest($1::bigint[], $2::bigint[]) AS t(o, u)`, [
    orders.map((x) => x.o),
    orders.map((x) => x.u),
  ]);
  const k = redisKeys(n);
  for (const part of chunks(users, 500)) {
    const p = c.redis.pipeline();
    for (const u of part) {
      p.set(k.user(u), seeded.profile(u));
      for (const sn of seeded.sessions) p.set(k.session(u, sn), seeded.session(u, sn));
      for (const o of orderIdsOf(u)) p.set(k.order(o), seeded.order(o));
      p.hset(k.emails, String(u), seeded.email(u));
      p.sadd(k.online, String(u));
    }
    await p.exec();
  }
  for (const part of chunks(users, 500)) {
    await c.es.bulk({
      operations: part.flatMap((u) => [
        { index: { _index: n.indices.users, _id: String(u) } },
        { user_id: String(u), email: seeded.email(u), name: seeded.name(u) },
        ...orderIdsOf(u).flatMap((o) => [
          { index: { _index: n.indices.orders, _id: String(o) } },
          { order_id: String(o), user_id: String(u), email: seeded.email(u), name: seeded.name(u) },
        ]),
      ]),
    });
  }
  await c.es.indices.refresh({ index: `${n.prefix}-*` });
  // Strings: the emulator refuses an INT64 array parameter sent as JSON numbers.
  const params = { params: { ids: users.map(String) } };
  await c.bq.query({
    query: `INSERT INTO ${bqTable(c.projectId, n, 'events')} (user_id, kind) SELECT u, kind FROM UNNEST(@ids) AS u CROSS JOIN UNNEST(['login', 'purchase']) AS kind`,
    ...params,
  });
  await c.bq.query({
    query: `INSERT INTO ${bqTable(c.projectId, n, 'orders')} (user_id, order_id, email, name, phone)
      SELECT u, CAST(CAST(u AS INT64) * 100 + k AS STRING), CONCAT('u', u, '@chaos.example'), CONCAT('User ', u), CONCAT('555-', CAST(CAST(u AS INT64) * 100 + k AS STRING))
      FROM UNNEST(@ids) AS u CROSS JOIN UNNEST([1, 2]) AS k`,
    ...params,
  });
  for (const part of chunks(users, 1000)) {
    await c.producer.send({ topic: n.topics.profiles, messages: part.map((u) => ({ key: String(u), value: seeded.profile(u) })) });
    await c.producer.send({ topic: n.topics.orders, messages: part.flatMap((u) => orderIdsOf(u).map((o) => ({ key: String(o), value: seeded.order(o) }))) });
  }
}

/** Drops everything the run created; each step on its own, so one failure does not leave the rest. */
export async function dropShop(n: ShopNames, c: ShopClients, say: (line: string) => void): Promise<void> {
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['replication slot', () => c.db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [`${n.run}_slot`])],
    ['publication', () => c.db.query(`DROP PUBLICATION IF EXISTS ${pg.escapeIdentifier(`${n.run}_pub`)}`)],
    ['schemas', () => c.db.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(n.run)}, ${pg.escapeIdentifier(n.trackerSchema)} CASCADE`)],
    ['topics', async () => c.admin.deleteTopics({ topics: (await c.admin.listTopics()).filter((t) => t.startsWith(`${n.prefix}.`)) })],
    ['indices', () => c.es.indices.delete({ index: `${n.prefix}-*`, ignore_unavailable: true })],
    ['dataset', () => c.bq.dataset(n.run).delete({ force: true })],
    ['redis keys', () => unlinkMatching(c.redis, `${n.prefix}:*`)],
    ['registry subjects', async () => { for (const t of [n.topics.erasures, n.topics.acks, n.topics.status]) await deleteValueSubject(c.registryUrl, t); }],
  ];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (error) {
      say(`cleanup: could not drop the ${what}: ${(error as Error).message}`);
    }
  }
}

async function unlinkMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}
