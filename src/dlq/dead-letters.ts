import type { Admin, IHeaders, KafkaMessage } from 'kafkajs';
import { DLQ_AT, DLQ_EVENT, DLQ_REASON, DLQ_SINK, DLQ_SOURCE, REDRIVEN_FROM } from '../../consumers/chunk-outcome.js';
import { NOT_BEFORE } from '../../consumers/retry-gate.js';
import type { Catalog } from '../catalog/catalog.js';
import { UsageError } from '../errors.js';
import { createKafka, translateKafka } from '../kafka/kafka-client.js';
import { readTopic } from '../kafka/topic-reader.js';
import { topologyOf } from '../kafka/topology.js';
import type { Logger } from '../logger.js';
import { replayTargets } from '../replay/erasure-replay.js';

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
export function redriveMessage(message: KafkaMessage, dlq: string, now: number) {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (![DLQ_SINK, DLQ_REASON, DLQ_SOURCE, DLQ_AT, NOT_BEFORE].includes(name) && value !== undefined) headers[name] = value;
  }
  return { key: message.key, value: message.value, headers: { ...headers, [NOT_BEFORE]: String(now), [REDRIVEN_FROM]: `${dlq}/0/${message.offset}` } };
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
    if (!replayTargets(options.catalog).includes(options.sink)) {
      throw new UsageError(`--sink ${options.sink}: not a sink of this catalog (sinks: ${replayTargets(options.catalog).join(', ')})`);
    }
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
      await readTopic(this.kafka, this.topic, async (m) => void out.push(deadLetterOf(m, cursor)));
      return out;
    });
  }

  /** Sends dead letters back to the sink's retry topic; returns how many. */
  async redrive(select: { eventId?: string; all?: boolean } = {}): Promise<{ sent: number; records: number }> {
    return this.withAdmin(async (admin) => {
      const cursor = await this.cursor(admin);
      const chosen: KafkaMessage[] = [];
      let end = cursor;
      let records = 0;
      await readTopic(this.kafka, this.topic, async (m) => {
        records += 1;
        end = BigInt(m.offset) + 1n > end ? BigInt(m.offset) + 1n : end;
        const letter = deadLetterOf(m, cursor);
        if (select.eventId !== undefined ? letter.eventId === select.eventId : select.all || !letter.redriven) chosen.push(m);
      });
      if (select.eventId !== undefined && chosen.length === 0) throw new UsageError(`--event ${select.eventId}: no such event in ${this.topic}`);
      if (chosen.length > 0) {
        const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        try {
          const now = Date.now();
          await producer.send({ topic: this.topology.retry(this.options.sink), acks: -1, messages: chosen.map((m) => redriveMessage(m, this.topic, now)) });
        } finally {
          await producer.disconnect();
        }
      }
      // The cursor moves past what was read only for a plain redrive; one by event id leaves it.
      if (select.eventId === undefined && end > cursor) await admin.setOffsets({ groupId: this.cursorGroup, topic: this.topic, partitions: [{ partition: 0, offset: String(end) }] });
      this.options.logger.info({ sink: this.options.sink, sent: chosen.length, records }, 'dead letters re-driven');
      return { sent: chosen.length, records };
    });
  }

  private async cursor(admin: Admin): Promise<bigint> {
    const [committed] = await admin.fetchOffsets({ groupId: this.cursorGroup, topics: [this.topic] });
    const offset = committed?.partitions.find((p) => p.partition === 0)?.offset ?? '-1';
    return offset === '-1' ? 0n : BigInt(offset);
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
