import type { Kafka, KafkaMessage } from 'kafkajs';

/**
 * Reads a topic from its beginning up to the end offsets it has when called, through a
 * throwaway consumer group that commits nothing.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void>,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ partition: number; low: string; high: string }>;
  try {
    ends = (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
  } finally {
    await admin.disconnect();
  }
  const pending = ends.filter((e) => BigInt(e.high) > BigInt(e.low));
  if (pending.length === 0) return;
  const consumer = kafka.consumer({ groupId: `lethe-reader-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    const remaining = new Map(pending.map((e) => [e.partition, BigInt(e.high)]));
    let resolveDone!: () => void;
    let rejectDone!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const end = remaining.get(partition);
        if (end === undefined || BigInt(message.offset) >= end) return;
        try {
          await onMessage(message, partition);
        } catch (error) {
          rejectDone(error);
        }
        if (BigInt(message.offset) + 1n >= end) remaining.delete(partition);
        if (remaining.size === 0) resolveDone();
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
  }
}
