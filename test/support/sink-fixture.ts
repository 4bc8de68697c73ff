import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { KafkaMessage } from 'kafkajs';
import { parseCatalog, type Catalog } from '../../src/catalog/catalog.js';
import type { SinkConnector } from '../../connectors/sink-connector.js';
import { SinkRunner, type ErasureAck } from '../../consumers/sink-runner.js';
import { eventIdOf, eventKeyOf, subjectIdOf, type SubjectErased } from '../../src/cdc/erasure-manifest.js';
import { deleteValueSubject, EventCodec } from '../../src/events/event-codec.js';
import { endpoints } from './endpoints.js';
import { EventCollector } from './event-collector.js';
import { kafkaContext, type KafkaContext } from './kafka-context.js';
import { capturingLogger } from './log-capture.js';
import type { Logger } from '../../src/logger.js';
import { topologyOf } from '../../src/kafka/topology.js';
import { errorKind } from '../../src/errors.js';
import { retry } from '../../src/retry.js';
import { ensureTopics } from '../../src/kafka/topic-config.js';
import { configuredSinks } from '../../src/catalog/sinks.js';
import pg from 'pg';
import { uniqueName } from './names.js';

/** A SubjectErased event for subject type `user` keyed by `id`, as the CDC reader would publish it. */
export function userErased(id: string, related: SubjectErased['related'] = [], overrides: Partial<SubjectErased> = {}): SubjectErased {
  const subjectId = subjectIdOf([id]);
  const commitLsn = `0/${(Math.floor(Math.random() * 0xfffffff) + 0x1000).toString(16).toUpperCase()}`;
  return {
    eventId: eventIdOf(commitLsn, 'user', subjectId),
    subjectType: 'user',
    subjectId,
    subjectKey: [{ column: 'id', value: id }],
    operation: 'DELETE',
    sourceTable: 'public.users',
    commitLsn,
    commitTime: Date.now(),
    xid: 1,
    requestId: null,
    related,
    emittedAt: Date.now(),
    part: 1,
    parts: 1,
    ...overrides,
  };
}

/** A SubjectErased event for subject type `account`, whose key is composite ("tenant", "AccountId"). */
export function accountErased(tenant: string, accountId: string): SubjectErased {
  const subjectId = subjectIdOf([tenant, accountId]);
  return userErased(accountId, [], {
    subjectType: 'account',
    subjectId,
    subjectKey: [
      { column: 'tenant', value: tenant },
      { column: 'AccountId', value: accountId },
    ],
    sourceTable: 'crm."Accounts"',
    eventId: eventIdOf(`0/${Math.floor(Math.random() * 0xfffffff).toString(16)}`, 'account', subjectId),
  });
}

export interface SinkFixture extends AsyncDisposable {
  kafka: KafkaContext;
  catalog: Catalog;
  /** The catalog as YAML, for a `lethe` process of the CLI. */
  yaml: string;
  /** Its topics; dlq and retry are those of the catalog's first sink (the one a test runs). */
  topics: { erasures: string; acks: string; dlq: string; retry: string; health: string };
  logLines: string[];
  /** The tracker schema the runners read legal holds from (the fixture's own unless extraYaml names one). */
  trackerSchema: string;
  /** The logger the fixture's runners write to (captured in logLines). */
  logger: Logger;
  publish(events: SubjectErased[]): Promise<void>;
  publishRaw(key: string, value: Buffer): Promise<void>;
  startRunner(connector: SinkConnector): { stop: () => Promise<void> };
  acks(): Promise<EventCollector<ErasureAck>>;
  deadLetters(): Promise<KafkaMessage[]>;
}

/**
 * Its own erasures, acks and dead-letter topics; the catalog's `sinks` section is given as YAML
 * (indented under `sinks:`), and any other top-level sections as `extraYaml`. The runners read
 * legal holds from the stack's database, in a tracker schema of the fixture's own (dropped at the
 * end) unless `extraYaml` has a `tracker:` section. Subject type `user` (key id) has related tables public.orders and
 * public.messages; subject type `account` has a composite key (tenant, AccountId).
 */
export async function sinkFixture(sinksYaml: string, extraYaml = ''): Promise<SinkFixture> {
  const kafka = await kafkaContext();
  const e = endpoints();
  const erasures = kafka.topicName('lethe.test.erasures');
  // The acks topic is the catalog's default for its erasures topic (`<erasures>.acks`).
  const acks = `${erasures}.acks`;
  kafka.track(acks);
  const ownTracker = !/^tracker:/m.test(extraYaml);
  const trackerYaml = ownTracker ? `tracker: { schema: ${uniqueName('holds')} }` : '';
  const yaml = `
source: { url: "${e.databaseUrl}" }
kafka:
  brokers: "${e.kafkaBrokers.join(',')}"
  schemaRegistry: "${e.schemaRegistryUrl}"
  topics: { erasures: ${erasures} }
subjects:
  user:
    table: public.users
    key: id
    related:
      - { table: public.orders, subjectColumn: user_id, key: id }
      - { table: public.messages, subjectColumn: sender_id, key: id }
  account:
    table: crm."Accounts"
    key: [tenant, '"AccountId"']
sinks:
  settings: { retryInitialMs: 10, retryMaxMs: 200, maxBatchEvents: 100, deferredRetryMs: 1500 }
${sinksYaml}
${extraYaml}
${trackerYaml}
`;
  const catalog = parseCatalog(yaml, {});
  // The sink's own topics are named by the topology, under the test's erasures topic.
  const topology = topologyOf(catalog);
  const sink = configuredSinks(catalog.sinks)[0] ?? 'redis';
  const topics = { erasures, acks, dlq: topology.dlq(sink), retry: topology.retry(sink), health: topology.health };
  for (const t of [topics.dlq, topics.retry, topics.health]) kafka.track(t);
  await kafka.createTopics([erasures, acks].map((topic) => ({ topic, numPartitions: 3 })));
  await ensureTopics(kafka.admin, topology.specs().filter((s) => [topics.dlq, topics.retry, topics.health].includes(s.topic)).map((s) => ({ ...s, partitions: Math.min(s.partitions, 3) })));
  const registry = new SchemaRegistry({ host: e.schemaRegistryUrl });
  const codec = new EventCodec<SubjectErased>(registry, topics.erasures, 'subject-erased');
  const producer = kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const { logger, lines } = capturingLogger();
  const runners: Array<{ stop: () => Promise<void> }> = [];
  const collectors: Array<EventCollector<ErasureAck>> = [];
  return {
    kafka,
    catalog,
    yaml,
    topics,
    trackerSchema: catalog.tracker.schema,
    logLines: lines,
    logger,
    async publish(events) {
      // The test's own producer waits out a registry that hangs up under the parallel suite, as
      // Lethe's reader would (a failed registration is a wait, not the test's subject).
      const encoded = await retry(
        () => Promise.all(events.map(async (ev) => ({ key: eventKeyOf(ev.subjectType, ev.subjectId), value: await codec.encode(ev) }))),
        { attempts: 10, initialDelayMs: 100, maxDelayMs: 2000, retriable: (error) => errorKind(error) === 'infrastructure' },
      );
      await producer.send({ topic: topics.erasures, acks: -1, messages: encoded });
    },
    async publishRaw(key, value) {
      await producer.send({ topic: topics.erasures, acks: -1, messages: [{ key, value }] });
    },
    startRunner(connector) {
      const controller = new AbortController();
      const running = new SinkRunner({ catalog, connector, logger }).run(controller.signal);
      const handle = {
        stop: async () => {
          controller.abort();
          await running;
        },
      };
      runners.push(handle);
      return handle;
    },
    async acks() {
      const collector = await EventCollector.start<ErasureAck>(kafka.kafka, e.schemaRegistryUrl, topics.acks);
      collectors.push(collector);
      return collector;
    },
    deadLetters() {
      return kafka.records(topics.dlq);
    },
    async [Symbol.asyncDispose]() {
      for (const r of runners) await r.stop();
      for (const c of collectors) await c[Symbol.asyncDispose]();
      await producer.disconnect();
      for (const topic of [topics.erasures, topics.acks]) await deleteValueSubject(e.schemaRegistryUrl, topic);
      if (ownTracker) {
        const db = new pg.Client({ connectionString: e.databaseUrl });
        await db.connect();
        await db.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(catalog.tracker.schema)} CASCADE`).finally(() => db.end());
      }
      await kafka[Symbol.asyncDispose]();
    },
  };
}
