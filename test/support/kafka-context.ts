import { Kafka, logLevel, type Admin, type ITopicConfig, type KafkaMessage } from 'kafkajs';
import { waitFor } from './wait-for.js';
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
  /**
   * Creates topics and waits until every partition has a leader. kafkajs' own `waitForLeaders`
   * gives up ("This server does not host this topic-partition") when a metadata answer does
   * not know the new topic yet, as happens under a busy parallel suite.
   */
  createTopics(topics: ITopicConfig[]): Promise<void>;
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
    async createTopics(specs) {
      await createTopicsWithLeaders(admin, { topics: specs });
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

/**
 * Creates topics and waits until every partition has a leader, by metadata: kafkajs' own
 * `waitForLeaders` gives up ("This server does not host this topic-partition") when a metadata
 * answer does not know the new topic yet, as happens under a busy parallel suite.
 */
export async function createTopicsWithLeaders(admin: Admin, options: { topics: ITopicConfig[] }): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics: options.topics });
  const wanted = new Map(options.topics.map((t) => [t.topic, t.numPartitions ?? 1]));
  await waitFor(
    async () => {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: [...wanted.keys()] });
      return found.every((t) => t.partitions.length === wanted.get(t.name) && t.partitions.every((p) => p.leader >= 0));
    },
    { what: `leaders of ${[...wanted.keys()].join(', ')}` },
  );
}
