#!/usr/bin/env node
// The demo shop's copies outside PostgreSQL: `stores.mjs setup` creates the demo's indices,
// tables and topics; `stores.mjs seed USER...` copies users into every store as an application
// would; `stores.mjs show USER...` prints what each store holds of them (keys and counts, no
// personal data); `stores.mjs wait-clean USER` waits until no store holds the user.
import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { createBigQueryClient } from '../dist/connectors/bigquery-client.js';
import { readTopic } from '../dist/src/kafka/topic-reader.js';

const env = process.env;
const [command, ...users] = process.argv.slice(2);
const redis = new Redis(env.REDIS_URL);
const es = new Client({ node: env.ELASTICSEARCH_URL });
const bq = createBigQueryClient({ projectId: env.BIGQUERY_PROJECT_ID, apiEndpoint: env.BIGQUERY_API_ENDPOINT });
const kafka = new kafkajs.Kafka({ brokers: env.KAFKA_BROKERS.split(','), clientId: 'lethe-demo', logLevel: kafkajs.logLevel.NOTHING });
const table = (name) => `\`${env.BIGQUERY_PROJECT_ID}.analytics.${name}\``;
const TOPICS = ['app.user-profiles', 'app.orders'];

async function setup() {
  for (const index of ['users', 'messages']) {
    if (!(await es.indices.exists({ index }))) {
      await es.indices.create({ index, settings: { number_of_replicas: 0 }, mappings: { properties: { user_id: { type: 'keyword' }, sender_id: { type: 'keyword' }, sender_name: { type: 'keyword' }, sender_email: { type: 'keyword' } } } });
    }
  }
  const [datasets] = await bq.getDatasets();
  if (!datasets.some((d) => d.id === 'analytics')) {
    await bq.createDataset('analytics');
    await bq.query({ query: `CREATE TABLE ${table('events')} (user_id STRING, kind STRING)` });
    await bq.query({ query: `CREATE TABLE ${table('orders')} (user_id STRING, order_id STRING, email STRING, name STRING, phone STRING)` });
  }
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const missing = TOPICS.filter((t) => !existing.has(t));
  if (missing.length > 0) {
    await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.compaction.lag.ms', value: '3600000' }] })) });
  }
  await admin.disconnect();
}

async function seed(user) {
  const orders = [1, 2, 3].map((g) => String(Number(user) * 10 + g));
  const email = `user${user}@example.test`;
  await redis.set(`user:${user}`, JSON.stringify({ email }));
  for (let s = 0; s < 3; s++) await redis.set(`session:${user}:${s}`, 'token');
  await redis.hset('user-emails', user, email);
  await redis.sadd('online-users', user);
  for (const o of orders) await redis.set(`order:${o}`, 'cart');
  await es.bulk({
    refresh: true,
    operations: [
      { index: { _index: 'users', _id: user } }, { user_id: user, email },
      { index: { _index: 'messages' } }, { sender_id: user, sender_name: `User ${user}`, sender_email: email, body: 'hello' },
    ],
  });
  await bq.query({ query: `INSERT INTO ${table('events')} (user_id, kind) VALUES (@u, 'login'), (@u, 'purchase')`, params: { u: user } });
  await bq.query({ query: `INSERT INTO ${table('orders')} (user_id, order_id, email, name, phone) VALUES (@u, @o, @e, @n, '555-0100')`, params: { u: user, o: orders[0], e: email, n: `User ${user}` } });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'app.user-profiles', messages: [{ key: user, value: JSON.stringify({ email }) }] });
  await producer.send({ topic: 'app.orders', messages: orders.map((o) => ({ key: o, value: 'order' })) });
  await producer.disconnect();
}

async function holdings(user) {
  const orders = [1, 2, 3].map((g) => String(Number(user) * 10 + g));
  const sessions = (await redis.scan('0', 'MATCH', `session:${user}:*`, 'COUNT', 1000))[1].length;
  const redisKeys = (await redis.exists(`user:${user}`, ...orders.map((o) => `order:${o}`))) + sessions;
  const redisMembers = (await redis.hexists('user-emails', user)) + (await redis.sismember('online-users', user));
  const esDocs = (await es.count({ index: 'users', query: { term: { user_id: user } } })).count;
  const esNamed = (await es.count({ index: 'messages', query: { bool: { filter: [{ term: { sender_id: user } }], should: [{ exists: { field: 'sender_name' } }, { exists: { field: 'sender_email' } }], minimum_should_match: 1 } } })).count;
  const [[ev]] = await bq.query({ query: `SELECT COUNT(*) AS n FROM ${table('events')} WHERE user_id = @u`, params: { u: user } });
  const [[or]] = await bq.query({ query: `SELECT COUNTIF(email IS NOT NULL OR name != 'Deleted user' OR NOT REGEXP_CONTAINS(phone, r'^hmac:demo1:[0-9a-f]{64}$')) AS n FROM ${table('orders')} WHERE user_id = @u`, params: { u: user } });
  const latest = new Map();
  for (const topic of TOPICS) await readTopic(kafka, topic, async (m) => void latest.set(`${topic}/${m.key}`, m.value !== null));
  const live = [`app.user-profiles/${user}`, ...orders.map((o) => `app.orders/${o}`)].filter((k) => latest.get(k)).length;
  return [
    ['redis', `${redisKeys} key(s), ${redisMembers} hash field/set member(s)`, redisKeys + redisMembers],
    ['elasticsearch', `${esDocs} document(s) in users, ${esNamed} message(s) still naming them`, esDocs + esNamed],
    ['bigquery', `${ev.n} row(s) in analytics.events, ${or.n} row(s) in analytics.orders not anonymized and pseudonymized`, ev.n + or.n],
    ['compacted topics', `${live} live key(s) (latest value not a tombstone)`, live],
  ];
}

async function show(user) {
  for (const [store, text, n] of await holdings(user)) console.log(`  ${n === 0 ? 'clean' : 'holds'}  ${store.padEnd(17)} ${text}`);
}

try {
  if (command === 'setup') await setup();
  else if (command === 'seed') for (const u of users) await seed(u);
  else if (command === 'show') for (const u of users) { console.log(`user ${u}:`); await show(u); }
  else if (command === 'wait-clean') {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const left = (await holdings(users[0])).filter(([, , n]) => n > 0);
      if (left.length === 0) break;
      if (Date.now() > deadline) { console.error(`still holding user ${users[0]}: ${left.map(([s]) => s).join(', ')}`); process.exitCode = 1; break; }
      await new Promise((r) => setTimeout(r, 500));
    }
  } else {
    console.error('usage: stores.mjs setup | seed USER... | show USER... | wait-clean USER');
    process.exitCode = 2;
  }
} finally {
  redis.disconnect();
  await es.close();
}
