import { parseCatalog, type Catalog } from '../../src/catalog/catalog.js';
import { quoteIdent } from '../../src/catalog/identifiers.js';
import { CdcReader, type CdcReaderOptions } from '../../src/cdc/cdc-reader.js';
import { parseLsn } from '../../src/cdc/lsn.js';
import { findSlot } from '../../src/cdc/source-database.js';
import type { SubjectErased } from '../../src/cdc/erasure-manifest.js';
import { deleteValueSubject } from '../../src/events/event-codec.js';
import { planInit, topicSpecs } from '../../src/setup/init-plan.js';
import { ensureTopics } from '../../src/kafka/topic-config.js';
import { diagnose } from '../../src/setup/source-session.js';
import type { Logger } from '../../src/logger.js';
import { endpoints } from './endpoints.js';
import { EventCollector } from './event-collector.js';
import { kafkaContext, type KafkaContext } from './kafka-context.js';
import { capturingLogger } from './log-capture.js';
import { uniqueName } from './names.js';
import { pgContext, type PgContext } from './pg-context.js';
import { waitFor } from './wait-for.js';

/**
 * A source database shaped unlike the demo on purpose: a quoted mixed-case schema and tables, a
 * uuid key column with a mixed-case name, a child table referencing it, and an unrelated table
 * outside the catalog. Each fixture has its own schema, publication, slot and topics.
 */
export interface CdcFixture extends AsyncDisposable {
  db: PgContext;
  kafka: KafkaContext;
  catalog: Catalog;
  schema: string;
  /** Fully quoted table names for SQL. */
  users: string;
  orders: string;
  audit: string;
  logLines: string[];
  /** The logger every service of the fixture logs to (captured into logLines). */
  logger: Logger;
  slotName: string;
  startReader(options?: Partial<CdcReaderOptions>): { stop: () => Promise<void>; reader: CdcReader };
  collect(): Promise<EventCollector<SubjectErased>>;
  confirmedFlushLsn(): Promise<string>;
  /** Records in the erasures topic right now, from its partitions' offsets. */
  publishedCount(): Promise<number>;
  /** Resolves once the slot is confirmed past everything committed so far. */
  slotCaughtUp(): Promise<void>;
  yaml: string;
}

export interface CdcFixtureOptions {
  heartbeatIntervalMs?: number;
  ackIntervalMs?: number;
  /** A catalog `sinks:` section (without the key), given the fixture's schema name. */
  sinks?: (schema: string) => string;
  /** More top-level catalog sections (manual, backups, tracker), as YAML. */
  extra?: string;
  /** "Users" partitioned by hash of "UserId" into two partitions. */
  partitioned?: boolean;
}

export async function cdcFixture(options: CdcFixtureOptions = {}): Promise<CdcFixture> {
  const db = await pgContext();
  const kafka = await kafkaContext();
  const schema = `Lethe_${uniqueName('s')}`;
  const q = quoteIdent(schema);
  const users = `${q}."Users"`;
  const orders = `${q}."Orders"`;
  const audit = `${q}.audit_log`;
  const publication = db.name('publication', 'pub');
  const slotName = db.name('slot');
  const topic = kafka.topicName('lethe.test.erasures');
  const acks = kafka.topicName('lethe.test.acks');
  const status = kafka.topicName('lethe.test.status');

  await db.client.query(`CREATE SCHEMA ${q}`);
  await db.client.query(
    `CREATE TABLE ${users} ("UserId" uuid PRIMARY KEY, email text NOT NULL, "ErasedAt" timestamptz)${options.partitioned ? ' PARTITION BY HASH ("UserId")' : ''}`,
  );
  for (const remainder of options.partitioned ? [0, 1] : []) {
    await db.client.query(`CREATE TABLE ${q}."Users_${remainder}" PARTITION OF ${users} FOR VALUES WITH (MODULUS 2, REMAINDER ${remainder})`);
  }
  await db.client.query(
    `CREATE TABLE ${orders} (id bigserial PRIMARY KEY, "UserRef" uuid NOT NULL REFERENCES ${users} ("UserId") ON DELETE CASCADE, item text)`,
  );
  await db.client.query(`CREATE INDEX ON ${orders} ("UserRef")`);
  await db.client.query(`ALTER TABLE ${orders} REPLICA IDENTITY FULL`);
  await db.client.query(`CREATE TABLE ${audit} (id bigserial PRIMARY KEY, note text)`);

  const e = endpoints();
  const yaml = `
source:
  url: ${e.databaseUrl}
  publication: ${publication}
  slot: ${slotName}
  heartbeatIntervalMs: ${options.heartbeatIntervalMs ?? 1000}
  ackIntervalMs: ${options.ackIntervalMs ?? 0}
kafka:
  brokers: ${e.kafkaBrokers.join(',')}
  schemaRegistry: ${e.schemaRegistryUrl}
  topics: { erasures: ${topic}, acks: ${acks}, status: ${status} }
subjects:
  customer:
    table: '"${schema}"."Users"'
    key: '"UserId"'
    erasedWhen:
      - delete
      - update: { column: '"ErasedAt"', becomes: not_null }
    related:
      - { table: '"${schema}"."Orders"', subjectColumn: '"UserRef"', key: id }
${options.sinks ? `sinks:\n${options.sinks(schema)}` : ''}
${options.extra ?? ''}`;
  const catalog = parseCatalog(yaml, {});
  // Publication and slot as `lethe init` creates them.
  for (const step of planInit(catalog, await diagnose(db.client, catalog), new Set())) {
    if (step.kind === 'sql') await db.client.query(step.sql);
  }
  // Every topic of the catalog's topology (its own names, under the test's erasures topic).
  const specs = topicSpecs(catalog);
  for (const spec of specs) kafka.track(spec.topic);
  await ensureTopics(kafka.admin, specs.map((spec) => ({ ...spec, partitions: Math.min(spec.partitions, 3) })));

  const { logger, lines } = capturingLogger();
  const readers: Array<{ stop: () => Promise<void> }> = [];
  const collectors: Array<EventCollector<SubjectErased>> = [];
  return {
    db,
    kafka,
    catalog,
    schema,
    users,
    orders,
    audit,
    logLines: lines,
    logger,
    slotName,
    yaml,
    startReader(readerOptions = {}) {
      const reader = new CdcReader({ catalog, logger, restartDelayMs: { initial: 100, max: 1000 }, ...readerOptions });
      const controller = new AbortController();
      const running = reader.run(controller.signal);
      const handle = {
        reader,
        stop: async () => {
          controller.abort();
          await running;
        },
      };
      readers.push(handle);
      return handle;
    },
    async collect() {
      const collector = await EventCollector.start<SubjectErased>(kafka.kafka, e.schemaRegistryUrl, topic);
      collectors.push(collector);
      return collector;
    },
    async confirmedFlushLsn() {
      return (await findSlot(db.client, slotName))?.confirmedFlushLsn ?? '0/0';
    },
    async publishedCount() {
      const offsets = await kafka.admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    },
    async slotCaughtUp() {
      // The insert position: with synchronous_commit off, pg_current_wal_lsn() (the write
      // position) can still be behind a commit that has returned.
      const { rows } = await db.client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      const target = parseLsn(rows[0]!.lsn);
      await waitFor(async () => parseLsn((await findSlot(db.client, slotName))?.confirmedFlushLsn ?? '0/0') >= target, {
        timeoutMs: 30_000,
        what: `slot ${slotName} to pass ${rows[0]!.lsn}`,
      });
    },
    async [Symbol.asyncDispose]() {
      for (const r of readers) await r.stop();
      for (const c of collectors) await c[Symbol.asyncDispose]();
      try {
        await db.client.query(`DROP SCHEMA ${q} CASCADE`);
        // The registry keeps what the reader registered: a soft, then a permanent delete.
        for (const t of [topic, acks, status]) await deleteValueSubject(e.schemaRegistryUrl, t);
      } finally {
        await kafka[Symbol.asyncDispose]();
        await db[Symbol.asyncDispose]();
      }
    },
  };
}
