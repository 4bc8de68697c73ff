import { EventEmitter } from 'node:events';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Admin, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import pg from 'pg';
import type { DevLetheEvents as Acks } from '../../schemas/generated/erasure-ack.js';
import type { Catalog } from '../catalog/catalog.js';
import type { SubjectErased } from '../cdc/erasure-manifest.js';
import { EventCodec } from '../events/event-codec.js';
import { GroupHeartbeat } from '../kafka/group-heartbeat.js';
import { OutageWaiter } from '../outage-waiter.js';

import { errorKind, LetheError, reasonOf, RecordError } from '../errors.js';
import { CONSUMER_RETRY, createKafka, FETCH_LIMITS, HEARTBEAT_MS, SESSION_TIMEOUT_MS, translateKafka, whenCrashedForGood } from '../kafka/kafka-client.js';
import { parseSinkHealth } from '../kafka/sink-health.js';
import type { Logger } from '../logger.js';
import { ensureTopics } from '../kafka/topic-config.js';
import { topologyOf, type Topology } from '../kafka/topology.js';
import { whenAborted } from '../when-aborted.js';
import { exposureOf } from './api-access.js';
import { expectedTargetsOf, type ErasureFacts, type ErasureStatus } from './erasure-status.js';
import { startHttpApi, type HttpApi } from './http-api.js';
import { StatusPublisher } from './status-publisher.js';
import { StatusStore, type StoredAck } from './status-store.js';
import { SinkWaits } from './sink-waits.js';
import { TrackerMetrics } from './tracker-metrics.js';
import { openRequests, type RequestSystem } from '../requests/request-system.js';


export interface TrackerOptions {
  catalog: Catalog;
  logger: Logger;
  /** Overrides the catalog's tracker.host/port (tests listen on port 0). */
  listen?: { host: string; port: number };
  /** Called once the HTTP API listens, with its base URL. */
  onListening?: (url: string) => void;
  /** How often the metrics that read Kafka and Postgres are refreshed (tests shorten it). */
  metricsRefreshMs?: number;
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
    const listen = this.options.listen ?? { host: catalog.tracker.host, port: catalog.tracker.port };
    const exposure = exposureOf(catalog.tracker, listen.host);
    if (exposure.refused) throw new LetheError('TRACKER_EXPOSED', exposure.refused);
    if (exposure.clearText) this.log.warn({ host: listen.host }, exposure.clearText);
    const topology = topologyOf(catalog);
    const store = new StatusStore(catalog.tracker.database, catalog.tracker.schema, (type) => expectedTargetsOf(catalog, type), catalog.tracker.slaMs);
    const source = new pg.Pool({ connectionString: catalog.source.url, max: 1 });
    source.on('error', () => undefined);
    const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-tracker', logger: this.log });
    const registry = new SchemaRegistry({ host: catalog.kafka.schemaRegistry });
    const codecs = {
      events: new EventCodec<SubjectErased>(registry, topology.erasures, 'subject-erased'),
      acks: new EventCodec<Acks.ErasureAck>(registry, topology.acks, 'erasure-ack'),
    };
    const admin = kafka.admin();
    const publisher = new StatusPublisher(kafka, catalog, store);
    const consumer = kafka.consumer({ groupId: topology.trackerGroup, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: HEARTBEAT_MS, maxWaitTimeInMs: 500, retry: CONSUMER_RETRY, ...FETCH_LIMITS });
    const waiter = new OutageWaiter({ initialDelayMs: 200, maxDelayMs: catalog.sinks.settings.retryMaxMs, logger: this.log });
    const waits = new SinkWaits();
    let http: HttpApi | undefined;
    let requests: RequestSystem | undefined;
    let metrics: TrackerMetrics | undefined;
    let sweep: NodeJS.Timeout | undefined;
    let crashed: Error | undefined;
    // A crash kafkajs gives up on while the broker is away: joined again, once the tracker consumes.
    let rejoin: () => Promise<void> = async () => undefined;
    const stayedDown = whenCrashedForGood(consumer, this.log, 'tracker consumer', () => rejoin()).then((error) => void (crashed = error));
    try {
      await waiter.run('creating the tracker tables', () => store.ensureSchema(), signal);
      await waiter.run('connecting to kafka', () => this.connectKafka(admin, publisher, consumer, topology), signal);
      metrics = new TrackerMetrics({ catalog, store, admin, source, logger: this.log, topology, waits, ...(this.options.metricsRefreshMs ? { refreshMs: this.options.metricsRefreshMs } : {}) });
      metrics.start();
      const announce = (changed: ErasureStatus[]) => {
        for (const s of changed) this.changes.emit('status', s);
        if (changed.length > 0) this.log.info({ changed: changed.length, statuses: countBy(changed.map((s) => s.status)) }, 'erasure status changed');
      };
      // Statuses stored but not yet published: Kafka was away, the tracker stopped in between, or
      // `lethe confirm` recorded a confirmation. The SLA sweep publishes them too.
      const publishPending = async () => announce(await publisher.publishPending());
      await publishPending().catch((error: unknown) => this.log.warn({ err: reasonOf(error) }, 'statuses left to publish later'));

      if (catalog.requests.enabled) requests = await openRequests(catalog, this.log, { statuses: store, ensureSchema: false });
      http = await startHttpApi({
        ...(requests ? { requests: { service: requests.service, reports: requests.reports } } : {}),
        catalog,
        store,
        metrics,
        waits,
        changes: this.changes,
        publishPending,
        logger: this.log,
        listen,
      });
      this.options.onListening?.(http.url);
      this.log.info({ url: http.url }, 'tracker API listening');

      const fold = { store, publisher, waiter, waits, metrics, codecs, topology, announce };
      await waiter.run('subscribing', () => consumer.subscribe({ topics: [topology.erasures, topology.acks, topology.health], fromBeginning: true }).catch((e: unknown) => Promise.reject(translateKafka(e, 'subscribing'))), signal);
      const consume = () => consumer.run({ eachBatchAutoResolve: false, eachBatch: (payload) => this.batch(fold, payload, signal) });
      rejoin = async () => {
        try {
          await waiter.run('joining the group', () => consumer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting the tracker consumer'))), signal);
          await consume();
        } catch (error) {
          if (!signal.aborted) throw error;
        }
      };
      await consume();
      const check = async () => {
        try {
          const due = await store.refoldDue();
          await publisher.publish(due);
          announce(due);
          await publishPending();
        } catch (error) {
          this.log.warn({ err: reasonOf(error) }, 'SLA check failed; next check retries');
        }
      };
      sweep = setInterval(() => void check(), catalog.tracker.overdueCheckMs);
      this.log.info({ groupId: topology.trackerGroup, slaMs: catalog.tracker.slaMs }, 'tracker consuming');
      await Promise.race([stayedDown, whenAborted(signal)]);
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      if (sweep) clearInterval(sweep);
      await http?.close().catch(() => undefined);
      await requests?.close().catch(() => undefined);
      await metrics?.stop().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
      await publisher.close().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await store.close().catch(() => undefined);
      await source.end().catch(() => undefined);
    }
    if (crashed) throw crashed;
  }

  private async connectKafka(admin: Admin, publisher: StatusPublisher, consumer: Consumer, topology: Topology): Promise<void> {
    try {
      await admin.connect();
      await ensureTopics(admin, [topology.spec(topology.status)!, topology.spec(topology.health)!]);
      await Promise.all([publisher.connect(), consumer.connect()]);
    } catch (error) {
      throw translateKafka(error, 'connecting the tracker');
    }
  }

  /**
   * One fetched batch: decode, store and refold, publish, then commit. The schema registry or
   * Postgres being away is waited out (offsets stay, the member heartbeats); a record no schema
   * reads is counted and named, and skipped (the sinks dead-lettered it and acked it as failed).
   */
  private async batch(fold: Fold, { batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }: EachBatchPayload, stop: AbortSignal): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const { topology, waits, metrics } = fold;
    if (batch.topic === topology.health) {
      for (const message of batch.messages) {
        const record = parseSinkHealth(message.value);
        if (record && waits.record(record)) metrics.sinkOutages.inc({ sink: record.sink });
        resolveOffset(message.offset);
      }
      await commitOffsetsIfNecessary();
      return;
    }
    const beat = new GroupHeartbeat(heartbeat, HEARTBEAT_MS, this.log, SESSION_TIMEOUT_MS);
    const signal = AbortSignal.any([stop, beat.stale.signal]);
    let changed: ErasureStatus[];
    try {
      const decoded = await fold.waiter.run('reading the schema registry', () => this.decode(fold, batch.topic, batch.partition, batch.messages), signal);
      const result = await fold.waiter.run('storing statuses', () => fold.store.record(decoded.facts, decoded.acks), signal);
      for (const { ack, commitTime } of result.newAcks) {
        if (!ack.replay && commitTime !== null) metrics.ackLatency.observe({ sink: ack.sink }, Math.max(0, ack.at - commitTime) / 1000);
      }
      changed = result.changed;
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    } finally {
      beat.stop();
    }
    try {
      await fold.publisher.publish(changed);
    } catch (error) {
      // Stored and refolded: publishing waits for the next sweep rather than holding the batch.
      this.log.warn({ err: reasonOf(error), statuses: changed.length }, 'status topic not reachable; statuses published later');
    }
    fold.announce(changed);
    for (const message of batch.messages) resolveOffset(message.offset);
    await commitOffsetsIfNecessary();
    await heartbeat();
  }

  private async decode(fold: Fold, topic: string, partition: number, messages: KafkaMessage[]): Promise<{ facts: ErasureFacts[]; acks: StoredAck[] }> {
    const facts: ErasureFacts[] = [];
    const acks: StoredAck[] = [];
    for (const message of messages) {
      const where = `${topic}/${partition}/${message.offset}`;
      try {
        if (!message.value) throw new RecordError('UNDECODABLE', 'empty value');
        if (topic === fold.topology.erasures) facts.push(factsOf(await fold.codecs.events.decode(message.value)));
        else {
          const a = await fold.codecs.acks.decode(message.value);
          acks.push({ ...withoutNul(a), error: withoutNul(a.error ?? null), details: withoutNul(a.details ?? {}), replay: a.replay ?? false, part: a.part ?? 1, parts: a.parts ?? 1, source: where });
        }
      } catch (error) {
        if (errorKind(error) !== 'record') throw error;
        fold.metrics.undecodable.inc({ topic });
        this.log.error({ record: where, err: reasonOf(error) }, 'tracker could not decode a record; skipped');
      }
    }
    return { facts, acks };
  }
}

interface Fold {
  store: StatusStore;
  publisher: StatusPublisher;
  waiter: OutageWaiter;
  waits: SinkWaits;
  metrics: TrackerMetrics;
  codecs: { events: EventCodec<SubjectErased>; acks: EventCodec<Acks.ErasureAck> };
  topology: Topology;
  announce: (changed: ErasureStatus[]) => void;
}

/**
 * A store's error text can echo a document's bytes; jsonb refuses U+0000 (22P05), which would stop
 * the tracker on that ack for good. The character carries nothing the proof needs.
 */
function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '') as T;
  if (value && typeof value === 'object' && !Array.isArray(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNul(v)])) as T;
  return value;
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

