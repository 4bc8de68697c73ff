import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners, type IHeaders, type KafkaMessage, type Message } from 'kafkajs';
import type { DevLetheEvents as Acks } from '../schemas/generated/erasure-ack.js';
import { errorOf, outcomeOf, type AckOutcome, type SinkConnector, type TargetResult } from '../connectors/sink-connector.js';
import type { Catalog } from '../src/catalog/catalog.js';
import { eventKeyOf, type SubjectErased } from '../src/cdc/erasure-manifest.js';
import { EventCodec } from '../src/events/event-codec.js';
import { createKafka, whenCrashedForGood } from '../src/kafka/kafka-client.js';
import type { Logger } from '../src/logger.js';
import { retry } from '../src/retry.js';
import { dlqTopicOf, retryTopicOf } from '../src/setup/init-plan.js';
import { whenAborted } from '../src/when-aborted.js';

const NOT_BEFORE = 'lethe-not-before';
const ATTEMPT = 'lethe-attempt';
/** On a deferred record: it was deferred by a replay, so its later acks keep the replay flag. */
const REPLAY = 'lethe-replay';

export type ErasureAck = Acks.ErasureAck;

export interface SinkRunnerOptions {
  catalog: Catalog;
  connector: SinkConnector;
  logger: Logger;
  /** Defaults to lethe.sink.<sink>. */
  groupId?: string;
  /** Defaults to lethe.dlq.<sink>. */
  dlqTopic?: string;
  /** Defaults to lethe.retry.<sink>. */
  retryTopic?: string;
  /**
   * Replay: read only the erasures topic, up to these end offsets (exclusive, per partition),
   * then return instead of running until the signal. Acks carry the replay flag.
   */
  replay?: { startOffsets: ReadonlyMap<number, bigint>; endOffsets: ReadonlyMap<number, bigint>; onProgress?: (progress: ReplayProgress) => void };
}

export interface ReplayProgress {
  events: number;
  acks: Record<AckOutcome, number>;
  affected: number;
  /** Records left before the end offsets captured at start. */
  remaining: bigint;
}

export const sinkGroupId = (sink: string) => `lethe.sink.${sink}`;

interface Item {
  message: KafkaMessage;
  partition: number;
  event?: SubjectErased;
  decodeError?: string;
}

/**
 * One sink's consumer group over the erasures topic. Per batch: decode; apply through the
 * connector with retries (exponential backoff, jitter); an event still failing after the last
 * attempt, an undecodable record, or a target the connector reports as failed goes to the sink's
 * dead-letter topic with the reason in headers; one ErasureAck per event and target is produced;
 * only then are the batch's offsets resolved and committed. A new group starts at the beginning
 * of the topic: an erasure published before the sink first ran still reaches it.
 *
 * A DEFERRED result (the store cannot change the data yet) sends the event to the sink's retry
 * topic with a not-before time; the group reads that topic too and pauses a retry partition
 * until its next record is due, so a deferred erasure waits in Kafka, not in memory. A replay
 * defers into the same retry topic (it ends at its end offsets); such records carry a replay
 * header, and the live group that applies them acks with the replay flag.
 */
export class SinkRunner {
  private readonly log: Logger;
  private readonly sink: string;

  constructor(private readonly options: SinkRunnerOptions) {
    this.sink = options.connector.sink;
    this.log = options.logger.child({ service: `sink:${this.sink}` });
  }

  async run(signal: AbortSignal): Promise<void> {
    const { catalog, connector } = this.options;
    const settings = catalog.sinks.settings;
    const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: `lethe-sink-${this.sink}`, logger: this.log });
    const registry = new SchemaRegistry({ host: catalog.kafka.schemaRegistry });
    const events = new EventCodec<SubjectErased>(registry, catalog.kafka.topics.erasures, 'subject-erased');
    const acks = new EventCodec<ErasureAck>(registry, catalog.kafka.topics.acks, 'erasure-ack');
    await acks.register();
    const groupId = this.options.groupId ?? sinkGroupId(this.sink);
    const dlqTopic = this.options.dlqTopic ?? dlqTopicOf(this.sink);
    const retryTopic = this.options.retryTopic ?? retryTopicOf(this.sink);
    await ensureTopics(kafka, [dlqTopic, retryTopic]);
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      ...(connector.fetch ? { minBytes: connector.fetch.minBytes, maxWaitTimeInMs: connector.fetch.maxWaitMs } : {}),
    });
    const timers = new Set<NodeJS.Timeout>();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await consumer.connect();
    let crashed: Error | undefined;
    const stayedDown = whenCrashedForGood(consumer, this.log, 'consumer').then((error) => void (crashed = error));

    // An item's acks carry the replay flag when this run is a replay or a replay deferred the item.
    const isReplay = (item: Item) => this.options.replay !== undefined || item.message.headers?.[REPLAY]?.toString() === '1';
    const ack = (item: Item, event: Pick<SubjectErased, 'eventId' | 'subjectType' | 'subjectId'> & Partial<Pick<SubjectErased, 'part' | 'parts'>>, result: TargetResult, attempt: number): ErasureAck => ({
      eventId: event.eventId,
      subjectType: event.subjectType,
      subjectId: event.subjectId,
      sink: this.sink,
      target: result.target,
      outcome: outcomeOf(result),
      affected: result.affected,
      residual: result.residual,
      attempt,
      replay: isReplay(item),
      error: errorOf(result),
      details: result.details ?? {},
      at: Date.now(),
      // An event written before parts existed decodes without them: it is part 1 of 1.
      part: event.part ?? 1,
      parts: event.parts ?? 1,
    });

    const processChunk = async (items: Item[], topic: string, firstAttempt: number): Promise<void> => {
      const out: ErasureAck[] = [];
      const dead: Message[] = [];
      const later: Message[] = [];
      const deferLater = (item: Item, attempt: number) =>
        later.push({
          key: item.message.key,
          value: item.message.value,
          headers: {
            [NOT_BEFORE]: String(Date.now() + settings.deferredRetryMs),
            [ATTEMPT]: String(attempt + 1),
            ...(isReplay(item) ? { [REPLAY]: '1' } : {}),
          },
        });
      const deadLetter = (item: Item, reason: string) =>
        dead.push({
          key: item.message.key,
          value: item.message.value,
          headers: {
            ...(item.message.headers ?? {}),
            'lethe-dlq-sink': this.sink,
            'lethe-dlq-reason': reason.slice(0, 2000),
            'lethe-dlq-source': `${topic}/${item.partition}/${item.message.offset}`,
          } satisfies IHeaders,
        });

      for (const item of items.filter((i) => i.decodeError !== undefined)) {
        const [subjectType = 'unknown', ...rest] = (item.message.key?.toString() ?? 'unknown:').split(':');
        const reason = `undecodable record: ${item.decodeError}`;
        deadLetter(item, reason);
        out.push(
          ack(item, { eventId: `undecodable:${topic}/${item.partition}/${item.message.offset}`, subjectType, subjectId: rest.join(':') }, { target: '*', affected: 0, residual: 0, failed: reason }, 1),
        );
      }
      const mine = items.filter((i) => i.event && connector.handles(i.event.subjectType));
      if (mine.length > 0) {
        let attempt = 0;
        try {
          const results = await retry(
            async (n) => {
              attempt = firstAttempt + n - 1;
              return connector.apply(mine.map((i) => i.event!));
            },
            {
              attempts: settings.attempts,
              initialDelayMs: settings.retryInitialMs,
              maxDelayMs: settings.retryMaxMs,
              onRetry: (error, n, delayMs) => this.log.warn({ err: String(error), attempt: n, delayMs, events: mine.length }, 'sink batch failed; retrying'),
            },
          );
          mine.forEach((item, i) => this.collect(item, results[i] ?? [], attempt, ack, out, deadLetter, deferLater));
        } catch (batchError) {
          // The batch keeps failing: apply its events one by one, so one poison event goes to the
          // dead-letter topic and the others still get erased.
          this.log.error({ err: String(batchError), events: mine.length }, 'sink batch failed after every attempt; isolating events');
          for (const item of mine) {
            try {
              const [results] = await connector.apply([item.event!]);
              this.collect(item, results ?? [], attempt + 1, ack, out, deadLetter, deferLater);
            } catch (error) {
              const reason = `failed after ${settings.attempts + 1} attempts: ${error instanceof Error ? error.message : String(error)}`;
              deadLetter(item, reason);
              out.push(ack(item, item.event!, { target: '*', affected: 0, residual: 0, failed: reason }, attempt + 1));
            }
          }
        }
      }
      if (later.length > 0) {
        await producer.send({ topic: retryTopic, acks: -1, messages: later });
        this.log.warn({ retryTopic, events: later.length, retryInMs: settings.deferredRetryMs }, 'erasures deferred');
      }
      if (dead.length > 0) {
        await producer.send({ topic: dlqTopic, acks: -1, messages: dead });
        this.log.error({ dlqTopic, records: dead.length }, 'records sent to the dead-letter topic');
      }
      if (out.length > 0) {
        const messages = await Promise.all(
          out.map(async (a) => ({ key: eventKeyOf(a.subjectType, a.subjectId), value: await acks.encode(a), headers: { 'lethe-event-id': a.eventId } })),
        );
        await producer.send({ topic: catalog.kafka.topics.acks, acks: -1, messages });
      }
      progress.events += items.length;
      for (const a of out) {
        progress.acks[a.outcome] += 1;
        progress.affected += Number(a.affected);
      }
    };
    const progress: Omit<ReplayProgress, 'remaining'> = { events: 0, acks: { APPLIED: 0, NOTHING_TO_DO: 0, DEFERRED: 0, FAILED: 0 }, affected: 0 };
    // Replay ends when every partition has been read up to its end offset captured at start.
    const replay = this.options.replay;
    const next = new Map<number, bigint>(replay?.startOffsets ?? []);
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const remaining = () => {
      let left = 0n;
      for (const [partition, end] of replay?.endOffsets ?? []) {
        const at = next.get(partition) ?? 0n;
        if (end > at) left += end - at;
      }
      return left;
    };

    await consumer.subscribe({ topics: replay ? [catalog.kafka.topics.erasures] : [catalog.kafka.topics.erasures, retryTopic], fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause }) => {
        let messages = batch.messages;
        let firstAttempt = 1;
        if (batch.topic === retryTopic) {
          // Records are due in order of their not-before; stop at the first one not yet due and
          // pause the partition until it is. Unresolved records are fetched again on resume.
          const now = Date.now();
          const due = messages.findIndex((m) => Number(m.headers?.[NOT_BEFORE]?.toString() ?? 0) > now);
          if (due !== -1) {
            const wait = Number(messages[due]!.headers![NOT_BEFORE]!.toString()) - now;
            messages = messages.slice(0, due);
            const resume = pause();
            const timer = setTimeout(() => {
              timers.delete(timer);
              resume();
            }, wait);
            timers.add(timer);
          }
        }
        const batchEvents = connector.batchEvents ?? settings.maxBatchEvents;
        for (let start = 0; start < messages.length; start += batchEvents) {
          if (!isRunning() || isStale()) return;
          const chunk = messages.slice(start, start + batchEvents);
          if (batch.topic === retryTopic) firstAttempt = Math.max(...chunk.map((m) => Number(m.headers?.[ATTEMPT]?.toString() ?? 1)));
          const items: Item[] = await Promise.all(
            chunk.map(async (message) => {
              try {
                if (!message.value) throw new Error('empty value');
                return { message, partition: batch.partition, event: await events.decode(message.value) };
              } catch (error) {
                return { message, partition: batch.partition, decodeError: error instanceof Error ? error.message : String(error) };
              }
            }),
          );
          if (replay) {
            // Records past the end offset captured at start are not part of this replay.
            const end = replay.endOffsets.get(batch.partition) ?? 0n;
            const within = items.filter((i) => BigInt(i.message.offset) < end);
            if (within.length > 0) await processChunk(within, batch.topic, firstAttempt);
          } else {
            await processChunk(items, batch.topic, firstAttempt);
          }
          // Offsets move only now: every ack (and dead letter) of the chunk is in Kafka.
          for (const message of chunk) resolveOffset(message.offset);
          await commitOffsetsIfNecessary();
          await heartbeat();
          if (replay) {
            next.set(batch.partition, BigInt(chunk[chunk.length - 1]!.offset) + 1n);
            replay.onProgress?.({ ...progress, remaining: remaining() });
            if (remaining() === 0n) finish();
          }
        }
      },
    });
    this.log.info({ groupId, topic: catalog.kafka.topics.erasures }, 'sink consuming');

    if (replay && remaining() === 0n) finish();
    await Promise.race([
      ...(replay ? [finished] : []),
      stayedDown,
      whenAborted(signal),
    ]);
    for (const timer of timers) clearTimeout(timer);
    await consumer.disconnect();
    await producer.disconnect();
    await connector.close();
    if (crashed) throw crashed;
  }

  private collect(
    item: Item,
    results: TargetResult[],
    attempt: number,
    ack: (item: Item, event: SubjectErased, result: TargetResult, attempt: number) => ErasureAck,
    out: ErasureAck[],
    deadLetter: (item: Item, reason: string) => void,
    deferLater: (item: Item, attempt: number) => void,
  ): void {
    const event = item.event!;
    for (const result of results) out.push(ack(item, event, result, attempt));
    if (results.some((r) => outcomeOf(r) === 'DEFERRED')) deferLater(item, attempt);
    const failures = results.filter((r) => outcomeOf(r) === 'FAILED').map((r) => `${r.target}: ${errorOf(r)}`);
    if (failures.length > 0) deadLetter(item, failures.join('; '));
    this.log.debug({ eventId: event.eventId, subject: eventKeyOf(event.subjectType, event.subjectId), targets: results.length, failed: failures.length }, 'erasure applied');
  }
}

/** Creates Lethe's own topics of a sink when they are missing (createTopics skips existing ones). */
async function ensureTopics(kafka: ReturnType<typeof createKafka>, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] })) });
    }
  } finally {
    await admin.disconnect();
  }
}
