import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import pg from 'pg';
import { Partitioners, type Consumer, type EachBatchPayload, type KafkaMessage, type Message, type Producer } from 'kafkajs';
import type { AckOutcome, SinkConnector } from '../connectors/sink-connector.js';
import type { Catalog } from '../src/catalog/catalog.js';
import { eventKeyOf, type SubjectErased } from '../src/cdc/erasure-manifest.js';
import { sinkTargetsOf } from '../src/catalog/targets.js';
import { holdsSink } from '../src/holds/hold-scope.js';
import { HoldStore, subjectKeyOf, type HeldEvent } from '../src/holds/hold-store.js';
import { errorKind, InvariantError, reasonOf } from '../src/errors.js';
import { EventCodec } from '../src/events/event-codec.js';
import { CONSUMER_RETRY, createKafka, HEARTBEAT_MS, SESSION_TIMEOUT_MS, translateKafka, whenCrashedForGood } from '../src/kafka/kafka-client.js';
import { sendsWithin } from '../src/kafka/record-size.js';
import { SinkHealthWriter } from '../src/kafka/sink-health.js';
import { ensureTopics } from '../src/kafka/topic-config.js';
import { topologyOf, type Topology } from '../src/kafka/topology.js';
import type { Logger } from '../src/logger.js';
import { whenAborted } from '../src/when-aborted.js';
import { GroupHeartbeat } from '../src/kafka/group-heartbeat.js';
import { attemptOf, ChunkOutcome, type ChunkItem, type ErasureAck } from './chunk-outcome.js';
import { OffsetTracker } from './offset-tracker.js';
import { OutageWaiter } from '../src/outage-waiter.js';
import { ReplayWindow } from './replay-window.js';
import { dueRecords } from './retry-gate.js';

export type { ErasureAck } from './chunk-outcome.js';

export interface SinkRunnerOptions {
  catalog: Catalog;
  connector: SinkConnector;
  logger: Logger;
  /**
   * Replay: a one-off group reads only the erasures topic, from its start offsets up to these end
   * offsets (exclusive, per partition), then returns instead of running until the signal. Acks
   * carry the replay flag.
   */
  replay?: { groupId: string; startOffsets: ReadonlyMap<number, bigint>; endOffsets: ReadonlyMap<number, bigint>; onProgress?: (progress: ReplayProgress) => void };
}

export interface ReplayProgress {
  events: number;
  acks: Record<AckOutcome, number>;
  affected: number;
  /** Records left before the end offsets captured at start. */
  remaining: bigint;
}

/** What one run holds open, closed whatever way the run ends. */
interface Session {
  topology: Topology;
  producer: Producer;
  /** A new idempotent producer, for when a send failed (see `send`). */
  newProducer: () => Producer;
  /** A send failed since the producer was made: its sequence numbers can no longer be trusted. */
  producerSuspect: boolean;
  consumer: Consumer;
  events: EventCodec<SubjectErased>;
  acks: EventCodec<ErasureAck>;
  waiter: OutageWaiter;
  /** Legal holds, in the tracker's database: consulted before every batch. */
  holds: HoldStore;
  offsets: OffsetTracker;
  timers: Set<NodeJS.Timeout>;
  window?: ReplayWindow;
  finished: () => void;
  signal: AbortSignal;
}

/**
 * One sink's consumer group over the erasures topic and the sink's retry topic. Per chunk of a
 * fetched batch: decode; apply through the connector; one ErasureAck per event and target;
 * dead letters and deferrals; only then are the chunk's offsets resolved and committed. A new
 * group starts at the beginning of the topic: an erasure published before the sink first ran
 * still reaches it.
 *
 * Errors are handled by kind (src/errors.ts). A server that is down (the store, Kafka, the schema
 * registry) is waited out for as long as it takes: the chunk's offsets stay, the member keeps
 * heartbeating, the sink's health record says what it waits for, and it goes on by itself when the
 * server is back; no dead letter, no failed ack. The record's own fault (bytes no schema reads, an
 * event the store refuses, a target misconfigured) goes to the dead-letter topic with a failed ack.
 * A programmer error ends the run.
 *
 * Legal holds are consulted before a batch is applied, and fail closed: an event whose subject has
 * an active hold for this sink (`all`, `sink:<name>`) is not applied but acked HELD for each of the
 * sink's targets and kept in the holds tables until the hold is released (hold-redelivery.ts); the
 * holds database not answering is a wait like any store outage, never "no hold".
 *
 * A DEFERRED result (the store cannot change the data yet) sends the event to the retry topic with
 * a not-before time; the group pauses a retry partition until its next record is due, so a
 * deferred erasure waits in Kafka, not in memory. `lethe dlq redrive` writes there too.
 */
export class SinkRunner {
  private readonly log: Logger;
  private readonly sink: string;
  private readonly progress: Omit<ReplayProgress, 'remaining'> = { events: 0, acks: { APPLIED: 0, NOTHING_TO_DO: 0, DEFERRED: 0, FAILED: 0, HELD: 0 }, affected: 0 };

  constructor(private readonly options: SinkRunnerOptions) {
    this.sink = options.connector.sink;
    this.log = options.logger.child({ service: `sink:${this.sink}` });
  }

  async run(signal: AbortSignal): Promise<void> {
    const { catalog, connector, replay } = this.options;
    const settings = catalog.sinks.settings;
    const topology = topologyOf(catalog);
    const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: `lethe-sink-${this.sink}`, logger: this.log });
    const registry = new SchemaRegistry({ host: catalog.kafka.schemaRegistry });
    const newProducer = () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    const producer = newProducer();
    const groupId = replay?.groupId ?? topology.sinkGroup(this.sink);
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_MS,
      retry: CONSUMER_RETRY,
      ...(connector.fetch ? { minBytes: connector.fetch.minBytes, maxWaitTimeInMs: connector.fetch.maxWaitMs } : {}),
    });
    const health = new SinkHealthWriter({ send: (record) => session.producer.send(record) }, topology.health, this.sink, this.log);
    const pool = new pg.Pool({ connectionString: catalog.tracker.database, max: 2, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => undefined); // an idle client's error surfaces on the next query
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const session: Session = {
      topology,
      producer,
      newProducer,
      producerSuspect: false,
      consumer,
      events: new EventCodec<SubjectErased>(registry, topology.erasures, 'subject-erased'),
      acks: new EventCodec<ErasureAck>(registry, topology.acks, 'erasure-ack'),
      waiter: new OutageWaiter({ initialDelayMs: settings.retryInitialMs, maxDelayMs: settings.retryMaxMs, logger: this.log, report: health }),
      holds: new HoldStore(pool, catalog.tracker.schema),
      offsets: new OffsetTracker(),
      timers: new Set(),
      ...(replay ? { window: new ReplayWindow(replay.startOffsets, replay.endOffsets) } : {}),
      finished: finish,
      signal,
    };
    let crashed: Error | undefined;
    const stayedDown = whenCrashedForGood(consumer, this.log, 'consumer').then((error) => void (crashed = error));
    try {
      await this.open(session);
      this.log.info({ groupId, topic: topology.erasures }, 'sink consuming');
      if (session.window?.finished()) finish();
      await Promise.race([...(replay ? [finished] : []), stayedDown, whenAborted(signal)]);
    } catch (error) {
      // A stop during the start's waits is a stop, not a failure.
      if (!signal.aborted) throw error;
    } finally {
      await health.close();
      for (const timer of session.timers) clearTimeout(timer);
      // disconnect() leaves the group at once, so the others take the partitions without waiting out the session.
      await consumer.disconnect().catch(() => undefined);
      await session.producer.disconnect().catch(() => undefined);
      await connector.close().catch((error: unknown) => this.log.warn({ err: reasonOf(error) }, 'closing the connector failed'));
      await pool.end().catch(() => undefined);
    }
    if (crashed) throw crashed;
  }

  /** Connects, registers, creates missing topics and joins the group, waiting out servers that are down. */
  private async open(s: Session): Promise<void> {
    const { waiter, signal, topology } = s;
    await waiter.run('connecting to kafka', () => s.producer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting the producer'))), signal);
    await waiter.run('registering the ack schema', () => s.acks.register(), signal);
    await waiter.run('creating the holds tables', () => s.holds.ensureSchema(), signal);
    const specs = [...topology.sinkSpecs(this.sink), topology.spec(topology.health)!];
    await waiter.run('creating the sink topics', () => this.ensureSinkTopics(specs), signal);
    await waiter.run('joining the group', () => s.consumer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting the consumer'))), signal);
    const topics = s.window ? [topology.erasures] : [topology.erasures, topology.retry(this.sink)];
    await waiter.run('subscribing', () => s.consumer.subscribe({ topics, fromBeginning: true }).catch((e: unknown) => Promise.reject(translateKafka(e, 'subscribing'))), signal);
    await s.consumer.run({ eachBatchAutoResolve: false, eachBatch: (payload) => this.batch(s, payload) });
  }

  /** The sink's own topics, as the topology makes them, when `lethe init` has not. */
  private async ensureSinkTopics(specs: Parameters<typeof ensureTopics>[1]): Promise<void> {
    const admin = createKafka({ brokers: this.options.catalog.kafka.brokers, clientId: `lethe-sink-${this.sink}-admin`, logger: this.log }).admin();
    try {
      await admin.connect();
      await ensureTopics(admin, specs);
    } catch (error) {
      throw translateKafka(error, 'creating the sink topics');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** One fetched batch of one partition, in chunks of the connector's batch size. */
  private async batch(s: Session, { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause }: EachBatchPayload): Promise<void> {
    let messages = batch.messages;
    let firstAttempt = 1;
    const retryTopic = batch.topic === s.topology.retry(this.sink);
    if (retryTopic) {
      const gate = dueRecords(messages, Date.now());
      messages = gate.due;
      if (gate.waitMs !== undefined) {
        // Unresolved records are fetched again on resume.
        const resume = pause();
        // Capped: a skewed or garbage not-before must not hold the partition (and redrives) for long.
        const timer = setTimeout(() => {
          s.timers.delete(timer);
          resume();
        }, Math.min(gate.waitMs, this.options.catalog.sinks.settings.deferredRetryMs));
        s.timers.add(timer);
      }
    }
    const size = this.options.connector.batchEvents ?? this.options.catalog.sinks.settings.maxBatchEvents;
    for (let start = 0; start < messages.length; start += size) {
      if (!isRunning() || isStale()) return;
      const chunk = messages.slice(start, start + size);
      if (retryTopic) firstAttempt = Math.max(...chunk.map(attemptOf));
      for (const m of chunk) s.offsets.track(batch.partition, m.offset);
      const beat = new GroupHeartbeat(heartbeat, HEARTBEAT_MS, this.log, SESSION_TIMEOUT_MS);
      const signal = AbortSignal.any([s.signal, beat.stale.signal]);
      try {
        await this.chunk(s, chunk, batch.topic, batch.partition, firstAttempt, signal);
      } catch (error) {
        s.offsets.forget(batch.partition);
        // Stopped, or the partition went to another member: its offsets stay for whoever reads next.
        if (signal.aborted) return;
        throw error;
      } finally {
        beat.stop();
      }
      // Offsets move only now: every ack, dead letter and deferral of the chunk is in Kafka.
      for (const m of chunk) s.offsets.done(batch.partition, m.offset);
      const committable = s.offsets.takeCommittable(batch.partition);
      if (committable !== undefined) resolveOffset(committable);
      await commitOffsetsIfNecessary();
      await heartbeat();
      if (s.window) {
        s.window.advance(batch.partition, chunk[chunk.length - 1]!.offset);
        this.options.replay?.onProgress?.({ ...this.progress, remaining: s.window.remaining() });
        if (s.window.finished()) s.finished();
      }
    }
  }

  /** Decode, apply, and send what the chunk comes to. */
  private async chunk(s: Session, chunk: KafkaMessage[], topic: string, partition: number, firstAttempt: number, signal: AbortSignal): Promise<void> {
    let items = await s.waiter.run('reading the schema registry', () => decodeAll(s.events, chunk, topic, partition), signal);
    // Records past the end offset captured at start are not part of a replay.
    if (s.window) items = items.filter((i) => s.window!.within(partition, i.message.offset));
    const outcome = new ChunkOutcome({ sink: this.sink, replay: s.window !== undefined, deferredRetryMs: this.options.catalog.sinks.settings.deferredRetryMs });
    for (const item of items) if (item.decodeError !== undefined) outcome.undecodable(item);
    const mine = items.filter((i) => i.event && this.options.connector.handles(i.event.subjectType));
    const free = mine.length > 0 ? await this.holdBack(s, mine, outcome, firstAttempt, signal) : [];
    if (free.length > 0) await this.apply(s, free, outcome, firstAttempt, signal);
    await this.send(s, outcome, signal);
    this.progress.events += items.length;
    for (const a of outcome.acks) {
      this.progress.acks[a.outcome] += 1;
      this.progress.affected += Number(a.affected);
    }
  }

  /**
   * Takes out the events whose subject is under an active hold for this sink: acked HELD and
   * recorded as held (before any ack is sent), so the release can send them on. A replay records
   * none: it is a one-off run an operator repeats, and the live group's own held event is what
   * the release redelivers. Returns the events to apply.
   */
  private async holdBack(s: Session, items: ChunkItem[], outcome: ChunkOutcome, attempt: number, signal: AbortSignal): Promise<ChunkItem[]> {
    const subjects = [...new Map(items.map((i) => [subjectKeyOf(i.event!.subjectType, i.event!.subjectId), { subjectType: i.event!.subjectType, subjectId: i.event!.subjectId }])).values()];
    const active = await s.waiter.run('reading legal holds', () => s.holds.activeFor(subjects), signal);
    const free: ChunkItem[] = [];
    const held: HeldEvent[] = [];
    for (const item of items) {
      const event = item.event!;
      const holds = (active.get(subjectKeyOf(event.subjectType, event.subjectId)) ?? []).filter((h) => holdsSink(h.scope, this.sink));
      if (holds.length === 0) {
        free.push(item);
        continue;
      }
      const targets = sinkTargetsOf(this.options.catalog.sinks, event.subjectType).filter((t) => t.sink === this.sink).map((t) => t.target);
      outcome.held(item, targets, holds[0]!, attempt);
      if (!s.window) held.push(...holds.map((h) => ({ holdId: h.id, sink: this.sink, event })));
    }
    if (held.length > 0) {
      await s.waiter.run('recording held events', () => s.holds.recordHeld(held), signal);
      this.log.info({ events: items.length - free.length, holds: [...new Set(held.map((h) => h.holdId))] }, 'erasures kept back under legal hold');
    }
    return free;
  }

  /**
   * Applies the events as one batch, waiting out outages. When the store refuses the batch for a
   * record's fault, each event is applied alone, so the one at fault is dead-lettered and the
   * others are still erased.
   */
  private async apply(s: Session, items: ChunkItem[], outcome: ChunkOutcome, firstAttempt: number, signal: AbortSignal): Promise<void> {
    const { connector } = this.options;
    let attempt = firstAttempt;
    const applyAll = async (events: SubjectErased[]) =>
      s.waiter.run(
        `applying ${events.length} erasure(s)`,
        async (n) => {
          attempt = firstAttempt + n - 1;
          const results = await connector.apply(events);
          if (results.length !== events.length) throw new InvariantError(`connector ${connector.sink} returned ${results.length} results for ${events.length} events`);
          return results;
        },
        signal,
      );
    try {
      const results = await applyAll(items.map((i) => i.event!));
      items.forEach((item, i) => outcome.applied(item, results[i]!, attempt));
      return;
    } catch (error) {
      if (errorKind(error) !== 'record' || signal.aborted) throw error;
      this.log.warn({ err: reasonOf(error), events: items.length }, 'the store refused the batch; applying its events one by one');
    }
    for (const item of items) {
      try {
        const [results] = await applyAll([item.event!]);
        outcome.applied(item, results!, attempt);
      } catch (error) {
        if (errorKind(error) !== 'record' || signal.aborted) throw error;
        outcome.refused(item, reasonOf(error), attempt);
        this.log.error({ eventId: item.event!.eventId, subject: eventKeyOf(item.event!.subjectType, item.event!.subjectId), err: reasonOf(error) }, 'the store refused an erasure; dead-lettered');
      }
    }
  }

  /** Deferrals, dead letters, then acks: each part sent once, a Kafka outage waited out. */
  private async send(s: Session, outcome: ChunkOutcome, signal: AbortSignal): Promise<void> {
    const { topology } = s;
    const parts: Array<{ topic: string; messages: Message[]; what: string; level?: 'warn' | 'error' }> = [
      { topic: topology.retry(this.sink), messages: outcome.later, what: 'erasures deferred', level: 'warn' },
      { topic: topology.dlq(this.sink), messages: outcome.dead, what: 'records sent to the dead-letter topic', level: 'error' },
      {
        topic: topology.acks,
        messages: await Promise.all(outcome.acks.map(async (a) => ({ key: eventKeyOf(a.subjectType, a.subjectId), value: await s.acks.encode(a), headers: { 'lethe-event-id': a.eventId } }))),
        what: 'acks',
      },
    ];
    for (const part of parts) {
      if (part.messages.length === 0) continue;
      // Dead letters and deferrals carry whole events, parts of one erasure among them (each near
      // the limit, on one partition): sends stay within the broker's batch limit.
      for (const messages of sendsWithin(part.messages, this.options.catalog.kafka.maxMessageBytes)) {
        await s.waiter.run(`producing ${part.what}`, () => produceWith(s, part.topic, messages), signal);
      }
      if (part.level) this.log[part.level]({ topic: part.topic, records: part.messages.length }, part.what);
    }
  }
}

/**
 * One send through the session's idempotent producer. After a failed send kafkajs rolls its
 * sequence back although the broker may have appended the batch; a later batch of the same size
 * with that sequence would then be taken for a duplicate and dropped without an error, losing its
 * acks. So the first send after a failure goes through a new producer (a new producer id).
 */
async function produceWith(s: Session, topic: string, messages: Message[]): Promise<void> {
  if (s.producerSuspect) {
    const old = s.producer;
    s.producer = s.newProducer();
    await old.disconnect().catch(() => undefined);
    await s.producer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting a new producer')));
    s.producerSuspect = false;
  }
  try {
    await s.producer.send({ topic, acks: -1, messages });
  } catch (error) {
    s.producerSuspect = true;
    throw translateKafka(error, `producing to ${topic}`);
  }
}

/**
 * Decodes a chunk. A record's own decoding fault marks that record; the registry being away throws
 * for the whole chunk, so the runner waits for it instead of dead-lettering good records.
 */
async function decodeAll(codec: EventCodec<SubjectErased>, chunk: KafkaMessage[], topic: string, partition: number): Promise<ChunkItem[]> {
  return Promise.all(
    chunk.map(async (message): Promise<ChunkItem> => {
      try {
        if (!message.value) return { message, topic, partition, decodeError: 'empty value' };
        return { message, topic, partition, event: await codec.decode(message.value) };
      } catch (error) {
        if (errorKind(error) !== 'record') throw error;
        return { message, topic, partition, decodeError: reasonOf(error) };
      }
    }),
  );
}
