import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Consumer, Kafka } from 'kafkajs';
import { uniqueName } from './names.js';

export interface Collected<T> {
  key: string | undefined;
  partition: number;
  offset: string;
  value: T;
}

/**
 * Consumes a topic from its beginning with a fresh group and decodes every record through the
 * schema registry, so a test sees exactly what a downstream consumer would.
 */
export class EventCollector<T> implements AsyncDisposable {
  readonly records: Array<Collected<T>> = [];
  readonly errors: unknown[] = [];
  private consumer: Consumer | undefined;

  private constructor(
    private readonly kafka: Kafka,
    private readonly registry: SchemaRegistry,
    private readonly topic: string,
  ) {}

  static async start<T>(kafka: Kafka, registryUrl: string, topic: string): Promise<EventCollector<T>> {
    const collector = new EventCollector<T>(kafka, new SchemaRegistry({ host: registryUrl }), topic);
    await collector.run();
    return collector;
  }

  get values(): T[] {
    return this.records.map((r) => r.value);
  }

  private async run(): Promise<void> {
    this.consumer = this.kafka.consumer({ groupId: uniqueName('collector'), maxWaitTimeInMs: 100 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ partition, message }) => {
        try {
          const value = (await this.registry.decode(message.value!)) as T;
          this.records.push({ key: message.key?.toString(), partition, offset: message.offset, value });
        } catch (error) {
          this.errors.push(error);
        }
      },
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.consumer?.disconnect();
  }
}
