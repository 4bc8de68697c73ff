import type { Admin, IHeaders, KafkaMessage } from 'kafkajs';
import { DLQ_AT, DLQ_EVENT, DLQ_REASON, DLQ_SINK, DLQ_SOURCE, REDRIVEN_FROM } from '../../consumers/chunk-outcome.js';
import { NOT_BEFORE } from '../../consumers/retry-gate.js';
import type { Catalog } from '../catalog/catalog.js';
import { UsageError } from '../errors.js';
import { createKafka, translateKafka } from '../kafka/kafka-client.js';
import { readTopic } from '../kafka/topic-reader.js';
import { topologyOf } from '../kafka/topology.js';
import type { Logger } from '../logger.js';
import { configuredSinks } from '../catalog/sinks.js';
import { sendsWithin } from '../kafka/record-size.js';

/** What `lethe dlq list` shows of a dead letter: ids, keys and the reason, never the record's contents. */
export interface DeadLetter {
  offset: string;
  /** The erasure's event id; null for a record no schema reads. */
  eventId: string | null;
  /** The record key: `<subjectType>:<subjectId>`. */
  subject: string;
  reason: string;
  at: number | null;
  /** Where the sink read it: topic/partition/offset. */
  source: string;
  /** Sent back to the sink by an earlier `lethe dlq redrive`. */
  redriven: boolean;
}


function header(headers: IHeaders | undefined, name: string): string | null {
  const value = headers?.[name];
  if (value === undefined) return null;
  return (Array.isArray(value) ? value[0] : value)?.toString() ?? null;
}

/** The dead letter of a record, as listed. Pure. */
export function deadLetterOf(message: KafkaMessage, redrivenBefore: bigint): DeadLetter {
  const at = header(message.headers, DLQ_AT);
  return {
    offset: message.offset,
    eventId: header(message.headers, DLQ_EVENT),
    subject: message.key?.toString() ?? '',
    reason: header(message.headers, DLQ_REASON) ?? '',
    at: at === null ? null : Number(at),
    source: header(message.headers, DLQ_SOURCE) ?? '',
    redriven: BigInt(message.offset) < redrivenBefore,
  };
}

/**
 * A dead letter sent back to its sink: the same key and value on the sink's retry topic, due at
 * once, with where it came from. The live runner applies it like any erasure and acks it again;
 * the tracker lets the later outcome stand (a success after a failure is a success). Pure.
 */
export function redriveMessage(message: KafkaMessage, dlq: string, now: number, partition = 0) {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (![DLQ_SINK, DLQ_REASON, DLQ_SOURCE, DLQ_AT, NOT_BEFORE].includes(name) && value !== undefined) headers[name] = value;
  }
  return { key: message.key, value: message.value, headers: { ...headers, [NOT_BEFORE]: String(now), [REDRIVEN_FROM]: `${dlq}/${partition}/${message.offset}` } };
}

export interface DeadLetterOptions {
  catalog: Catalog;
  sink: string;
  logger: Logger;
}

/**
 * A sink's dead-letter topic and its redrive cursor: the committed offset of the deployment's
 * redrive group marks the records already sent back, so `redrive` sends each one once unless
 * asked again (`all`, or by event id).
 */
export class DeadLetters {
  private readonly topology;
  private readonly kafka;

  constructor(private readonly options: DeadLetterOptions) {
    const sinks = configuredSinks(options.catalog.sinks);
    if (options.sink === 'primary') {
      // No live runner reads the primary's retry topic: a redrive there would wait for nobody.
      throw new UsageError('--sink primary: dead letters of a replay into the primary are applied again with `lethe replay --sink primary --since <time>`');
    }
    if (!(sinks as string[]).includes(options.sink)) throw new UsageError(`--sink ${options.sink}: not a sink of this catalog (sinks: ${sinks.join(', ')})`);
    this.topology = topologyOf(options.catalog);
    this.kafka = createKafka({ brokers: options.catalog.kafka.brokers, clientId: 'lethe-dlq', logger: options.logger });
  }

  get topic(): string {
    return this.topology.dlq(this.options.sink);
  }

  private get cursorGroup(): string {
    return `${this.topology.namespace}.dlq-redrive.${this.options.sink}`;
  }

  async list(): Promise<DeadLetter[]> {
    return this.withAdmin(async (admin) => {
      const cursor = await this.cursor(admin);
      const out: DeadLetter[] = [];
      await readTopic(this.kafka, this.topic, async (m, partition) => void out.push(deadLetterOf(m, cursor.get(partition) ?? 0n)));
      return out;
    });
  }

  /** Sends dead letters back to the sink's retry topic; returns how many. */
  async redrive(select: { eventId?: string; all?: boolean } = {}): Promise<{ sent: number; records: number }> {
    return this.withAdmin(async (admin) => {
      const cursor = await this.cursor(admin);
      const chosen: Array<{ message: KafkaMessage; partition: number }> = [];
      const ends = new Map(cursor);
      let records = 0;
      await readTopic(this.kafka, this.topic, async (m, partition) => {
        records += 1;
        const after = BigInt(m.offset) + 1n;
        if (after > (ends.get(partition) ?? 0n)) ends.set(partition, after);
        const letter = deadLetterOf(m, cursor.get(partition) ?? 0n);
        if (select.eventId !== undefined ? letter.eventId === select.eventId : select.all || !letter.redriven) chosen.push({ message: m, partition });
      });
      if (select.eventId !== undefined && chosen.length === 0) throw new UsageError(`--event ${select.eventId}: no such event in ${this.topic}`);
      if (chosen.length > 0) {
        const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        try {
          const now = Date.now();
          // The parts of one large erasure share a key and a partition: sends stay within the batch limit.
          const messages = chosen.map((c) => redriveMessage(c.message, this.topic, now, c.partition));
          for (const batch of sendsWithin(messages, this.options.catalog.kafka.maxMessageBytes)) {
            await producer.send({ topic: this.topology.retry(this.options.sink), acks: -1, messages: batch });
          }
        } finally {
          await producer.disconnect();
        }
      }
      // The cursor moves past what was read only for a plain redrive; one by event id leaves it.
      const moved = [...ends].filter(([partition, end]) => end > (cursor.get(partition) ?? 0n));
      if (select.eventId === undefined && moved.length > 0) {
        await admin.setOffsets({ groupId: this.cursorGroup, topic: this.topic, partitions: moved.map(([partition, end]) => ({ partition, offset: String(end) })) });
      }
      this.options.logger.info({ sink: this.options.sink, sent: chosen.length, records }, 'dead letters re-driven');
      return { sent: chosen.length, records };
    });
  }

  /** Per partition, the offset up to which dead letters were re-driven. */
  private async cursor(admin: Admin): Promise<Map<number, bigint>> {
    const [committed] = await admin.fetchOffsets({ groupId: this.cursorGroup, topics: [this.topic] });
    return new Map((committed?.partitions ?? []).filter((p) => p.offset !== '-1').map((p) => [p.partition, BigInt(p.offset)]));
  }

  private async withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      if (!(await admin.listTopics()).includes(this.topic)) throw new UsageError(`${this.topic} does not exist: sink ${this.options.sink} has not run yet (lethe init creates it)`);
      return await work(admin);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw translateKafka(error, `reading ${this.topic}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
