import type { Message, Producer, RecordMetadata } from 'kafkajs';
import { translateKafka } from './kafka-client.js';

/**
 * An idempotent producer sending one batch at a time, whichever caller asks (a sink group's
 * partitions, a connector's concurrent applies: they run in parallel). After a failed send kafkajs rolls its sequence back although
 * the broker may have appended the batch; a later batch of the same size with that sequence would
 * then be taken for a duplicate and dropped without an error, losing its acks. So the first send
 * after a failure goes through a new producer (a new producer id), and no send may be queued on
 * the old one behind the failing one: sends wait their turn here, not in kafkajs. On one broker
 * this costs nothing (kafkajs holds a lock per broker around each produce request anyway).
 */
export class SerialProducer {
  private producer: Producer;
  /** A send failed since the producer was made: its sequence numbers can no longer be trusted. */
  private suspect = false;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly newProducer: () => Producer) {
    this.producer = newProducer();
  }

  async connect(): Promise<void> {
    await this.producer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting the producer')));
  }

  /** Sends acks=all once every send asked for before it is done; a failure is translated, naming the topic. */
  send(topic: string, messages: Message[]): Promise<RecordMetadata[]> {
    const sent = this.turn.then(() => this.sendNow(topic, messages));
    this.turn = sent.catch(() => undefined);
    return sent;
  }

  /** For records whose loss is harmless (the health record): straight through the current producer. */
  sendLoosely(record: Parameters<Producer['send']>[0]): Promise<RecordMetadata[]> {
    return this.producer.send(record);
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
  }

  private async sendNow(topic: string, messages: Message[]): Promise<RecordMetadata[]> {
    if (this.suspect) {
      const old = this.producer;
      this.producer = this.newProducer();
      await old.disconnect().catch(() => undefined);
      await this.producer.connect().catch((e: unknown) => Promise.reject(translateKafka(e, 'connecting a new producer')));
      this.suspect = false;
    }
    try {
      return await this.producer.send({ topic, acks: -1, messages });
    } catch (error) {
      this.suspect = true;
      throw translateKafka(error, `producing to ${topic}`);
    }
  }
}
