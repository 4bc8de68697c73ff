import { EventEmitter } from 'node:events';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import type { DevLetheEvents as Acks } from '../../schemas/generated/erasure-ack.js';
import type { Catalog } from '../catalog/catalog.js';
import type { SubjectErased } from '../cdc/erasure-manifest.js';
import { EventCodec } from '../events/event-codec.js';
import { createKafka, whenCrashedForGood } from '../kafka/kafka-client.js';
import type { Logger } from '../logger.js';
import { dlqTopicOf } from '../setup/init-plan.js';
import { whenAborted } from '../when-aborted.js';
import { expectedTargetsOf, type ErasureFacts, type ErasureStatus } from './erasure-status.js';
import { startHttpApi, type HttpApi } from './http-api.js';
import { StatusPublisher } from './status-publisher.js';
import { StatusStore, type StoredAck } from './status-store.js';
import { TrackerMetrics } from './tracker-metrics.js';

export const TRACKER_GROUP = 'lethe.tracker';
const sinkGroupOf = (sink: string) => `lethe.sink.${sink}`;

export interface TrackerOptions {
  catalog: Catalog;
  logger: Logger;
  /** Overrides the catalog's tracker.host/port (tests listen on port 0). */
  listen?: { host: string; port: number };
  groupId?: string;
  /** The sinks' consumer groups and dead-letter topics the metrics read; default lethe.sink.<sink>, lethe.dlq.<sink>. */
  sinkGroup?: (sink: string) => string;
  dlqTopic?: (sink: string) => string;
  /** Called once the HTTP API listens, with its base URL. */
  onListening?: (url: string) => void;
}

/**
 * The facts of an erasure event the tracker keeps: keys and counts, nothing of the erased data.
 * For one part of an erasure sent in parts, that part's counts (the store merges the parts).
 */
export function factsOf(event: SubjectErased): ErasureFacts {
  const related = new Map<string, { table: string; operation: 'DELETE' | 'UPDATE'; rows: number }>();
  for (const row of event.related) {
    const key = `${row.table}\u0000${row.operation}`;
    const entry = related.get(key) ?? { table: row.table, operation: row.operation, rows: 0 };
    entry.rows += 1;
    related.set(key, entry);
  }
  return {
    eventId: event.eventId,
    subjectType: event.subjectType,
    subjectId: event.subjectId,
    requestId: event.requestId ?? null,
    operation: event.operation,
    sourceTable: event.sourceTable,
    commitLsn: event.commitLsn,
    commitTime: event.commitTime,
    related: [...related.values()],
    // One part of an erasure sent in parts (events before parts decode without them: 1 of 1).
    ...((event.parts ?? 1) > 1 ? { part: event.part, parts: event.parts } : {}),
  };
}

/**
 * The tracker: folds the erasures topic and the acks topic into a status per erasure, kept in
 * Postgres and republished on the compacted status topic; checks open erasures against the SLA;
 * serves the HTTP API, dashboard and metrics. Its consumer group commits offsets only after the
 * batch is in Postgres, and a status is marked published only after Kafka has it, so a restart
 * redoes at most a batch (idempotently: acks are stored by topic/partition/offset).
 */
export class TrackerService {
  /** Emits 'status' with each changed ErasureStatus (the dashboard's live feed). */
  readonly changes = new EventEmitter();
  private readonly log: Logger;

  constructor(private readonly options: TrackerOptions) {
    this.log = options.logger.child({ service: 'tracker' });
    this.changes.setMaxListeners(0);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { catalog } = this.options;
    const store = new StatusStore(catalog.tracker.database, catalog.tracker.schema, (type) => expectedTargetsOf(catalog, type), catalog.tracker.slaMs);
    const source = new pg.Pool({ connectionString: catalog.source.url, max: 1 });
    source.on('error', () => undefined);
    const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-tracker', logger: this.log });
    const registry = new SchemaRegistry({ host: catalog.kafka.schemaRegistry });
    const events = new EventCodec<SubjectErased>(registry, catalog.kafka.topics.erasures, 'subject-erased');
    const acks = new EventCodec<Acks.ErasureAck>(registry, catalog.kafka.topics.acks, 'erasure-ack');
    const admin = kafka.admin();
    const publisher = new StatusPublisher(kafka, catalog, store);
    const groupId = this.options.groupId ?? TRACKER_GROUP;
    const consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 500 });
    let http: HttpApi | undefined;
    let sweep: NodeJS.Timeout | undefined;
    let crashed: Error | undefined;
    try {
      await store.ensureSchema();
      await ensureStatusTopic(kafka, catalog.kafka.topics.status);
      await Promise.all([admin.connect(), publisher.connect(), consumer.connect()]);
      const metrics = new TrackerMetrics({
        catalog,
        store,
        admin,
        source,
        logger: this.log,
        trackerGroup: groupId,
        sinkGroup: this.options.sinkGroup ?? sinkGroupOf,
        dlqTopic: this.options.dlqTopic ?? dlqTopicOf,
      });

      const announce = (changed: ErasureStatus[]) => {
        for (const s of changed) this.changes.emit('status', s);
        if (changed.length > 0) this.log.info({ changed: changed.length, statuses: countBy(changed.map((s) => s.status)) }, 'erasure status changed');
      };
      const publish = async (changed: ErasureStatus[]) => {
        await publisher.publish(changed);
        announce(changed);
      };
      // Statuses stored but not yet published: the tracker stopped in between, or `lethe confirm`
      // recorded a confirmation while Kafka was away.
      const publishPending = async () => announce(await publisher.publishPending());
      await publishPending();

      http = await startHttpApi({
        catalog,
        store,
        metrics,
        changes: this.changes,
        publishPending,
        logger: this.log,
        listen: this.options.listen ?? { host: catalog.tracker.host, port: catalog.tracker.port },
      });
      this.options.onListening?.(http.url);
      this.log.info({ url: http.url }, 'tracker API listening');

      const stayedDown = whenCrashedForGood(consumer, this.log, 'tracker consumer').then((error) => void (crashed = error));
      await consumer.subscribe({ topics: [catalog.kafka.topics.erasures, catalog.kafka.topics.acks], fromBeginning: true });
      await consumer.run({
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }) => {
          if (!isRunning() || isStale() || batch.messages.length === 0) return;
          const facts: ErasureFacts[] = [];
          const stored: StoredAck[] = [];
          for (const message of batch.messages) {
            const where = `${batch.topic}/${batch.partition}/${message.offset}`;
            try {
              if (!message.value) throw new Error('empty value');
              if (batch.topic === catalog.kafka.topics.erasures) facts.push(factsOf(await events.decode(message.value)));
              else {
                const a = await acks.decode(message.value);
                stored.push({ ...a, error: a.error ?? null, details: a.details ?? {}, replay: a.replay ?? false, part: a.part ?? 1, parts: a.parts ?? 1, source: where });
              }
            } catch (error) {
              // The sinks dead-letter undecodable erasures and ack them as failed; the tracker
              // counts and names the record, and does not stop for it.
              metrics.undecodable.inc({ topic: batch.topic });
              this.log.error({ record: where, err: (error as Error).message }, 'tracker could not decode a record; skipped');
            }
          }
          const result = await store.record(facts, stored);
          for (const { ack, commitTime } of result.newAcks) {
            if (!ack.replay && commitTime !== null) metrics.ackLatency.observe({ sink: ack.sink }, Math.max(0, ack.at - commitTime) / 1000);
          }
          await publish(result.changed);
          for (const message of batch.messages) resolveOffset(message.offset);
          await commitOffsetsIfNecessary();
          await heartbeat();
        },
      });
      const check = async () => {
        try {
          await publish(await store.refoldDue());
          await publishPending();
        } catch (error) {
          this.log.warn({ err: (error as Error).message }, 'SLA check failed; next check retries');
        }
      };
      sweep = setInterval(() => void check(), catalog.tracker.overdueCheckMs);
      this.log.info({ groupId, slaMs: catalog.tracker.slaMs }, 'tracker consuming');
      await Promise.race([stayedDown, whenAborted(signal)]);
    } finally {
      if (sweep) clearInterval(sweep);
      await http?.close().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
      await publisher.close().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await store.close().catch(() => undefined);
      await source.end().catch(() => undefined);
    }
    if (crashed) throw crashed;
  }
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** The status topic is compacted: the latest status per erasure id is what a dashboard reads. */
async function ensureStatusTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6, configEntries: STATUS_TOPIC_CONFIGS }] });
    }
  } finally {
    await admin.disconnect();
  }
}

export const STATUS_TOPIC_CONFIGS = [{ name: 'cleanup.policy', value: 'compact' }];
