import type { Kafka, KafkaMessage } from 'kafkajs';
import { readRanges } from './range-reader.js';

/**
 * Reads a topic from its beginning up to the end offsets it has when called, through a
 * throwaway consumer group that commits nothing (`readRanges` over every partition).
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
  await readRanges(kafka, ranges, (message, _topic, partition) => onMessage(message, partition), {
    groupId: `lethe-reader-${process.pid}-${Date.now()}`,
    partitions: new Map([[topic, ranges.map((r) => r.partition)]]),
  });
}
