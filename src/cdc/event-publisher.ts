import type { Message, Producer } from 'kafkajs';
import { LetheError } from '../errors.js';
import type { EventCodec } from '../events/event-codec.js';
import { RECORD_BATCH_OVERHEAD, recordBytes, sendsWithin } from '../kafka/record-size.js';
import type { CommitTicket } from './commit-acker.js';
import { eventKeyOf, type ErasureManifest, type SubjectErased } from './erasure-manifest.js';
import { splitEvent } from './manifest-parts.js';

/** The schema registry's framing of an Avro value: a magic byte and the schema id. */
const REGISTRY_HEADER_BYTES = 5;

export interface PublisherOptions {
  topic: string;
  /** Flush when this many events wait. */
  maxBatchEvents: number;
  /** Flush at the latest this long after the first event of a batch waits. */
  lingerMs: number;
  /**
   * The largest record batch to send (kafka.maxMessageBytes): an erasure whose event would not fit
   * is sent in parts, and the events of one send stay within it on any one partition.
   */
  maxMessageBytes: number;
  /**
   * Full batches queued for sending before `add` waits: the reader decodes the next batch while
   * earlier ones are sent (1 = wait for each full batch, as before).
   */
  maxBatchesInFlight?: number;
}

/**
 * Publishes erasure manifests in batches and settles each commit's ticket once Kafka has
 * acknowledged its events (idempotent producer, acks = all). Batches are sent one after another,
 * so tickets settle in commit order; a failed send fails every later batch too, and the reader
 * restarts from the slot, whose confirmed LSN never passed the lost batch. The failure is reported
 * to `onFailure` as it happens, whoever started the send: a batch the linger timer sent has no
 * caller waiting on it, and the reader must not hold WAL until its next catalogued commit.
 *
 * An erasure too large for one record goes out as parts (manifest-parts.ts); its commit's ticket,
 * like any, settles only once every message queued with it, every part included, is acknowledged.
 */
export class EventPublisher {
  private batch: { messages: Message[]; tickets: CommitTicket[]; bytes: number } = { messages: [], tickets: [], bytes: 0 };
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private timer: NodeJS.Timeout | undefined;
  /** Sends queued by full batches and not yet durable, oldest first. */
  private readonly inFlight: Array<Promise<void>> = [];

  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    private readonly codec: Pick<EventCodec<SubjectErased>, 'encode'>,
    private readonly options: PublisherOptions,
    private readonly onSettled: (events: number) => void,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /**
   * Queues manifests, and with the last of a commit's its ticket (settled once they and everything
   * queued before them are durable). Resolves at once unless the batch is full, in which case the
   * batch is queued for sending and it resolves once no more than `maxBatchesInFlight` full batches
   * wait to be durable: that wait is the reader's backpressure.
   */
  async add(manifests: ErasureManifest[], ticket?: CommitTicket): Promise<void> {
    if (this.failure) throw this.failure;
    const emittedAt = Date.now();
    for (const manifest of manifests) {
      for (const message of await this.messagesOf({ ...manifest, emittedAt })) {
        this.batch.messages.push(message);
        this.batch.bytes += recordBytes(message);
      }
    }
    if (ticket) this.batch.tickets.push(ticket);
    if (this.batch.messages.length >= this.options.maxBatchEvents || this.batch.bytes >= this.options.maxMessageBytes) {
      const sent = this.flush();
      this.inFlight.push(sent);
      // Whoever waits on it sees its failure; the others are told through onFailure.
      sent.then(
        () => void this.inFlight.splice(this.inFlight.indexOf(sent), 1),
        () => undefined,
      );
      while (this.inFlight.length >= (this.options.maxBatchesInFlight ?? 1)) await this.inFlight[0];
    } else if (!this.timer) {
      // Reported through onFailure; nothing else waits on this flush.
      this.timer = setTimeout(() => void this.flush().catch(() => undefined), this.options.lingerMs);
    }
  }

  /** One erasure's records: its event, or its parts when the event would not fit in one. */
  private async messagesOf(event: Omit<SubjectErased, 'part' | 'parts'>): Promise<Message[]> {
    const key = eventKeyOf(event.subjectType, event.subjectId);
    const headers = { 'lethe-event-id': event.eventId };
    const room = this.options.maxMessageBytes - RECORD_BATCH_OVERHEAD - recordBytes({ key, value: null, headers }) - REGISTRY_HEADER_BYTES;
    // Most events are small: encoded whole first, and measured only when that does not fit.
    const whole = await this.codec.encode({ ...event, part: 1, parts: 1 });
    if (whole.length <= room + REGISTRY_HEADER_BYTES) return [{ key, value: whole, headers }];
    const messages: Message[] = [];
    for (const part of splitEvent(event, room)) {
      const value = await this.codec.encode(part);
      if (value.length > room + REGISTRY_HEADER_BYTES) {
        // The splitter's sizes disagree with the encoding: a bug, and the broker would refuse it.
        throw new LetheError('EVENT_TOO_LARGE', `erasure ${event.eventId} part ${part.part} of ${part.parts} encoded to ${value.length} bytes, over the ${room + REGISTRY_HEADER_BYTES} kafka.maxMessageBytes leaves for it`);
      }
      messages.push({ key, value, headers });
    }
    return messages;
  }

  /** Sends what waits; resolves when it and everything before it is durable. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { messages, tickets } = this.batch;
    this.batch = { messages: [], tickets: [], bytes: 0 };
    if (messages.length === 0 && tickets.length === 0) return this.chain;
    this.chain = this.chain.then(async () => {
      if (this.failure) throw this.failure;
      try {
        // One send after another: a send is one record batch per partition, which the broker
        // refuses over message.max.bytes however small each record is.
        for (const send of sendsWithin(messages, this.options.maxMessageBytes)) {
          await this.producer.send({ topic: this.options.topic, acks: -1, messages: send });
        }
      } catch (error) {
        this.failure = error;
        this.onFailure(error);
        throw error;
      }
      for (const ticket of tickets) ticket.settle();
      this.onSettled(messages.length);
    });
    return this.chain;
  }

  /** The error that stopped publishing, if any. */
  failed(): unknown {
    return this.failure;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
