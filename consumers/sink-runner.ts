import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import pg from 'pg';
import { Partitioners, type Consumer, type EachBatchPayload, type KafkaMessage, type Message } from 'kafkajs';
import type { AckOutcome, SinkConnector } from '../connectors/sink-connector.js';
import type { Catalog } from '../src/catalog/catalog.js';
import { eventKeyOf, type SubjectErased } from '../src/cdc/erasure-manifest.js';
import { sinkTargetsOf } from '../src/catalog/targets.js';
import { holdsSink } from '../src/holds/hold-scope.js';
import { HoldStore, subjectKeyOf, type HeldEvent } from '../src/holds/hold-store.js';
import { errorKind, InvariantError, reasonOf } from '../src/errors.js';
import { EventCodec } from '../src/events/event-codec.js';
import { CONSUMER_RETRY, createKafka, FETCH_LIMITS, HEARTBEAT_MS, SESSION_TIMEOUT_MS, translateKafka, whenCrashedForGood } from '../src/kafka/kafka-client.js';
import { sendsWithin } from '../src/kafka/record-size.js';
import { SinkHealthWriter } from '../src/kafka/sink-health.js';
import { ensureTopics } from '../src/kafka/topic-config.js';
import { topologyOf, type Topology } from '../src/kafka/topology.js';
import type { Logger } from '../src/logger.js';
import { whenAborted } from '../src/when-aborted.js';
import { GroupHeartbeat } from '../src/kafka/group-heartbeat.js';
import { attemptOf, ChunkOutcome, type ChunkItem, type ErasureAck } from './chunk-outcome.js';
import { ChunkPipeline, type ChunkStages } from './chunk-pipeline.js';
import { OffsetTracker } from './offset-tracker.js';
import { SerialProducer } from '../src/kafka/serial-producer.js';
import { OutageWaiter } from '../src/outage-waiter.js';
import { ReplayWindow } from './replay-window.js';
import { dueRecords } from './retry-gate.js';
import { decodeAll } from './chunk-decoder.js';

export type { ErasureAck } from './chunk-outcome.js';

const COMMIT_INTERVAL_MS = 1000;

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

/** A chunk decoded, with what it comes to so far, and the events left to apply. */
interface Prepared {
  items: ChunkItem[];
  outcome: ChunkOutcome;
  /** The sink's events of the chunk, legal holds not read yet. */
  mine: ChunkItem[];
}

/** What one run holds open, closed whatever way the run ends. */
interface Session {
  topology: Topology;
  producer: SerialProducer;
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
 * dead letters and deferrals; only then are the chunk's offsets resolved and committed, in order.
 * Up to `partitionsInParallel` partitions are worked on at once, and up to `chunksInFlight` chunks
 * of each (applied one after another, the acks of one sent while the next is applied). A new
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
    const producer = new SerialProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }));
    const groupId = replay?.groupId ?? topology.sinkGroup(this.sink);
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_MS,
      retry: CONSUMER_RETRY,
      ...FETCH_LIMITS,
      ...(connector.fetch ? { minBytes: connector.fetch.minBytes, maxWaitTimeInMs: connector.fetch.maxWaitMs } : {}),
    });
    const health = new SinkHealthWriter({ send: (record) => producer.sendLoosely(record) }, topology.health, this.sink, this.log);
    // Partitions in parallel each read the holds per chunk: one connection each, and one to spare.
    const pool = new pg.Pool({ connectionString: catalog.tracker.database, max: settings.partitionsInParallel + 1, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => undefined); // an idle client's error surfaces on the next query
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const session: Session = {
      topology,
      producer,
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
    // A crash kafkajs gives up on while the broker is away: joined again, unless the sink is stopping.
    const rejoin = () => this.join(session).catch((error: unknown) => (signal.aborted ? undefined : Promise.reject(error)));
    const stayedDown = whenCrashedForGood(consumer, this.log, 'consumer', rejoin).then((error) => void (crashed = error));
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
      await producer.disconnect();
      await connector.close().catch((error: unknown) => this.log.warn({ err: reasonOf(error) }, 'closing the connector failed'));
      await pool.end().catch(() => undefined);
    }
    if (crashed) throw crashed;
  }

  /** Connects, registers, creates missing topics and joins the group, waiting out servers that are down. */
  private async open(s: Session): Promise<void> {
    const { waiter, signal, topology } = s;
    await waiter.run('connecting to kafka', () => s.producer.connect(), signal);
    await waiter.run('registering the ack schema', () => s.acks.register(), signal);
    await waiter.run('creating the holds tables', () => s.holds.ensureSchema(), signal);
    const specs = [...topology.sinkSpecs(this.sink), topology.spec(topology.health)!];
    await waiter.run('creating the sink topics', () => this.ensureSinkTopics(specs), signal);
    await this.join(s);
  }

  /** Connects the consumer, subscribes and runs it (again after a crash kafkajs does not restart from). */
  private async join(s: Session): Promise<void> {
    const { waiter, signal, topology } = s;
    await waiter.run('joining the group', () => s.consumer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting the consumer'))), signal);
    const topics = s.window ? [topology.erasures] : [topology.erasures, topology.retry(this.sink)];
    await waiter.run('subscribing', () => s.consumer.subscribe({ topics, fromBeginning: true }).catch((e: unknown) => Promise.reject(translateKafka(e, 'subscribing'))), signal);
    await s.consumer.run({
      eachBatchAutoResolve: false,
      // A batch of many pipelined chunks commits its done prefix as it goes, not only at its end.
      autoCommitInterval: COMMIT_INTERVAL_MS,
      // kafkajs fetches again once every partition's batch of a fetch is done: within a batch the
      // chunks are pipelined (ChunkPipeline), across partitions the batches run side by side.
      partitionsConsumedConcurrently: this.options.catalog.sinks.settings.partitionsInParallel,
      eachBatch: (payload) => this.batch(s, payload),
    });
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

  /**
   * One fetched batch of one partition, in chunks of the connector's batch size, up to
   * `chunksInFlight` of them at once (ChunkPipeline: applies in order, sends overlapping the next
   * apply, offsets done in order). A chunk that fails, stops or loses its partition abandons the
   * ones after it: their offsets stay uncommitted for whoever reads the partition next.
   */
  private async batch(s: Session, payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const retryTopic = batch.topic === s.topology.retry(this.sink);
    const messages = retryTopic ? this.dueOnly(s, batch.messages, payload.pause) : batch.messages;
    const settings = this.options.catalog.sinks.settings;
    const size = this.options.connector.batchEvents ?? settings.maxBatchEvents;
    const beat = new GroupHeartbeat(heartbeat, HEARTBEAT_MS, this.log, SESSION_TIMEOUT_MS);
    const signal = AbortSignal.any([s.signal, beat.stale.signal]);
    const pipeline = new ChunkPipeline(settings.chunksInFlight, () => isRunning() && !isStale() && !signal.aborted);
    let failure: { error: unknown } | undefined;
    try {
      for (let start = 0; start < messages.length; start += size) {
        if (!isRunning() || isStale() || !(await pipeline.room())) break;
        const chunk = messages.slice(start, start + size);
        const firstAttempt = retryTopic ? Math.max(...chunk.map(attemptOf)) : 1;
        for (const m of chunk) s.offsets.track(batch.topic, batch.partition, m.offset);
        pipeline.start(this.stages(s, payload, chunk, firstAttempt, signal));
      }
    } catch (error) {
      failure = { error };
    }
    await pipeline.drain().catch((error: unknown) => void (failure ??= { error }));
    beat.stop();
    if (failure || pipeline.stopped) s.offsets.forget(batch.topic, batch.partition);
    // Stopped, or the partition went to another member: its offsets stay for whoever reads next.
    if (failure && !signal.aborted) throw failure.error;
  }

  /**
   * The retry topic's gate: the records due now; the partition pauses until the first one not due
   * (unresolved records are fetched again on resume).
   */
  private dueOnly(s: Session, messages: KafkaMessage[], pause: EachBatchPayload['pause']): KafkaMessage[] {
    const gate = dueRecords(messages, Date.now());
    if (gate.waitMs !== undefined) {
      const resume = pause();
      // Capped: a skewed or garbage not-before must not hold the partition (and redrives) for long.
      const timer = setTimeout(() => {
        s.timers.delete(timer);
        resume();
      }, Math.min(gate.waitMs, this.options.catalog.sinks.settings.deferredRetryMs));
      s.timers.add(timer);
    }
    return gate.due;
  }

  /** A chunk's stages: decode; read holds and apply; send what it comes to, then its offsets are done. */
  private stages(s: Session, payload: EachBatchPayload, chunk: KafkaMessage[], firstAttempt: number, signal: AbortSignal): ChunkStages<Prepared, Prepared> {
    const { topic, partition } = payload.batch;
    return {
      prepare: () => this.prepare(s, chunk, topic, partition, firstAttempt, signal),
      apply: async (prepared) => {
        // Holds are read here, in the applies' order, not while the chunk before is applied: a
        // hold placed during that apply is honoured by this chunk.
        const free = prepared.mine.length > 0 ? await this.holdBack(s, prepared.mine, prepared.outcome, firstAttempt, signal) : [];
        if (free.length > 0) await this.apply(s, free, prepared.outcome, firstAttempt, signal);
        return prepared;
      },
      finish: async ({ items, outcome }) => {
        await this.send(s, outcome, signal);
        this.count(items, outcome);
        // Offsets move only now: every ack, dead letter and deferral of the chunk is in Kafka.
        for (const m of chunk) s.offsets.done(topic, partition, m.offset);
        const committable = s.offsets.takeCommittable(topic, partition);
        if (committable !== undefined) payload.resolveOffset(committable);
        await payload.commitOffsetsIfNecessary();
        await payload.heartbeat();
        if (s.window) {
          s.window.advance(partition, chunk[chunk.length - 1]!.offset);
          this.options.replay?.onProgress?.({ ...this.progress, remaining: s.window.remaining() });
          if (s.window.finished()) s.finished();
        }
      },
    };
  }

  /** Decode, and take out what is not the sink's to apply (undecodable, another sink's type). */
  private async prepare(s: Session, chunk: KafkaMessage[], topic: string, partition: number, firstAttempt: number, signal: AbortSignal): Promise<Prepared> {
    let items = await s.waiter.run('reading the schema registry', () => decodeAll(s.events, chunk, topic, partition), signal);
    // Records past the end offset captured at start are not part of a replay.
    if (s.window) items = items.filter((i) => s.window!.within(partition, i.message.offset));
    const outcome = new ChunkOutcome({ sink: this.sink, replay: s.window !== undefined, deferredRetryMs: this.options.catalog.sinks.settings.deferredRetryMs });
    for (const item of items) if (item.decodeError !== undefined) outcome.undecodable(item);
    const mine = items.filter((i) => i.event && this.options.connector.handles(i.event.subjectType));
    return { items, outcome, mine };
  }

  private count(items: ChunkItem[], outcome: ChunkOutcome): void {
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
        await s.waiter.run(`producing ${part.what}`, () => s.producer.send(part.topic, messages), signal);
      }
      if (part.level) this.log[part.level]({ topic: part.topic, records: part.messages.length }, part.what);
    }
  }
}
