import type { Message, Producer } from 'kafkajs';
import type { EventCodec } from '../events/event-codec.js';
import type { CommitTicket } from './commit-acker.js';
import { eventKeyOf, type ErasureManifest, type SubjectErased } from './erasure-manifest.js';

export interface PublisherOptions {
  topic: string;
  /** Flush when this many events wait. */
  maxBatchEvents: number;
  /** Flush at the latest this long after the first event of a batch waits. */
  lingerMs: number;
}

/**
 * Publishes erasure manifests in batches and settles each commit's ticket once Kafka has
 * acknowledged its events (idempotent producer, acks = all). Batches are sent one after another,
 * so tickets settle in commit order; a failed send fails every later batch too, and the reader
 * restarts from the slot, whose confirmed LSN never passed the lost batch. The failure is reported
 * to `onFailure` as it happens, whoever started the send: a batch the linger timer sent has no
 * caller waiting on it, and the reader must not hold WAL until its next catalogued commit.
 */
export class EventPublisher {
  private batch: { messages: Message[]; tickets: CommitTicket[] } = { messages: [], tickets: [] };
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    private readonly codec: Pick<EventCodec<SubjectErased>, 'encode'>,
    private readonly options: PublisherOptions,
    private readonly onSettled: (events: number) => void,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /**
   * Queues one commit's manifests. Resolves at once unless the batch is full, in which case it
   * resolves when the batch is sent: that wait is the reader's backpressure.
   */
  async add(manifests: ErasureManifest[], ticket: CommitTicket): Promise<void> {
    if (this.failure) throw this.failure;
    const emittedAt = Date.now();
    for (const manifest of manifests) {
      const event: SubjectErased = { ...manifest, emittedAt };
      this.batch.messages.push({
        key: eventKeyOf(event.subjectType, event.subjectId),
        value: await this.codec.encode(event),
        headers: { 'lethe-event-id': event.eventId },
      });
    }
    this.batch.tickets.push(ticket);
    if (this.batch.messages.length >= this.options.maxBatchEvents) {
      await this.flush();
    } else if (!this.timer) {
      // Reported through onFailure; nothing else waits on this flush.
      this.timer = setTimeout(() => void this.flush().catch(() => undefined), this.options.lingerMs);
    }
  }

  /** Sends what waits; resolves when it and everything before it is durable. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { messages, tickets } = this.batch;
    this.batch = { messages: [], tickets: [] };
    if (messages.length === 0 && tickets.length === 0) return this.chain;
    this.chain = this.chain.then(async () => {
      if (this.failure) throw this.failure;
      try {
        if (messages.length > 0) {
          await this.producer.send({ topic: this.options.topic, acks: -1, messages });
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
