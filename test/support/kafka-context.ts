import { Kafka, logLevel, type Admin, type KafkaMessage } from 'kafkajs';
import { readTopic } from '../../src/kafka/topic-reader.js';
import { endpoints } from './endpoints.js';
import { uniqueName } from './names.js';

/** A Kafka client and admin for one test; deletes the topics it named on disposal. */
export interface KafkaContext extends AsyncDisposable {
  kafka: Kafka;
  admin: Admin;
  topicName(prefix?: string): string;
  /** Deletes this topic too on disposal (one Lethe created under a test's namespace). */
  track(topic: string): void;
  /** Every record of a topic up to its end now. */
  records(topic: string): Promise<KafkaMessage[]>;
}

export async function kafkaContext(): Promise<KafkaContext> {
  const kafka = new Kafka({
    clientId: uniqueName('lethe-test'),
    brokers: endpoints().kafkaBrokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const topics: string[] = [];
  return {
    kafka,
    admin,
    topicName(prefix = 'topic') {
      const name = uniqueName(prefix).replaceAll('_', '.');
      topics.push(name);
      return name;
    },
    track(topic) {
      topics.push(topic);
    },
    async records(topic) {
      const out: KafkaMessage[] = [];
      await readTopic(kafka, topic, async (m) => void out.push(m));
      return out;
    },
    async [Symbol.asyncDispose]() {
      try {
        const existing = new Set(await admin.listTopics());
        const mine = [...new Set(topics)].filter((t) => existing.has(t));
        if (mine.length > 0) await admin.deleteTopics({ topics: mine });
      } finally {
        await admin.disconnect();
      }
    },
  };
}
