import type { Kafka, KafkaMessage } from 'kafkajs';
import { KeptRangeReader } from './kept-range-reader.js';

/**
 * Reads a topic from its beginning up to the end offsets it has when called, through a consumer
 * group of its own that commits nothing (a KeptRangeReader used for this one read, then left).
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void>,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  let offsets: Array<{ partition: number; low: string; high: string }>;
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const ranges = offsets.map((o) => ({ topic, partition: o.partition, from: BigInt(o.low), to: BigInt(o.high) }));
  const reader = new KeptRangeReader(kafka, `lethe-reader-${process.pid}`);
  try {
    await reader.read(ranges, (message, _topic, partition) => onMessage(message, partition));
  } finally {
    await reader.close();
  }
}
