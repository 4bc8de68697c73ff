import { FETCH_LIMITS } from './kafka-client.js';
import type { Kafka, KafkaMessage } from 'kafkajs';

/** Offsets [from, to) of one partition to read. */
export interface PartitionRange {
  topic: string;
  partition: number;
  from: bigint;
  to: bigint;
}

/** Which ranges were read to their end; the others stopped at the time limit. */
export interface RangesRead {
  /** `topic/partition` of every range read to its end. */
  complete: Set<string>;
  /** Bytes of keys and values read. */
  bytes: number;
}

export const rangeId = (topic: string, partition: number) => `${topic}/${partition}`;

/**
 * Reads given offset ranges of partitions (one range per partition), through a throwaway
 * consumer group that commits nothing: kafkajs has no manual assignment, so the group is
 * joined, every partition the reader does not want is paused, and each wanted one is sought to
 * its start. A range ends when a batch reaches its end offset: a transaction's control records
 * are never delivered as messages, so progress is taken from kafkajs's batch events, which see
 * them. Stops at `timeoutMs` (when given), reporting the ranges not finished by then as
 * incomplete; a consumer that crashes, or an `onMessage` that throws, rejects.
 */
export async function readRanges(
  kafka: Kafka,
  ranges: readonly PartitionRange[],
  onMessage: (message: KafkaMessage, topic: string, partition: number) => void | Promise<void>,
  /** `partitions`: every partition of each topic (those not in `ranges` are paused). */
  options: { timeoutMs?: number; groupId: string; partitions: ReadonlyMap<string, readonly number[]> },
): Promise<RangesRead> {
  const wanted = new Map(ranges.filter((r) => r.to > r.from).map((r) => [rangeId(r.topic, r.partition), r]));
  const out: RangesRead = { complete: new Set(ranges.filter((r) => r.to <= r.from).map((r) => rangeId(r.topic, r.partition))), bytes: 0 };
  if (wanted.size === 0) return out;
  // Joining a new group can meet a coordinator still loading (a fresh `__consumer_offsets`
  // partition, a leader moving): kafkajs's own retries, about 15 s of them, wait that out.
  const consumer = kafka.consumer({ groupId: options.groupId, maxWaitTimeInMs: 100, retry: { retries: 6, initialRetryTime: 300, maxRetryTime: 5_000 }, ...FETCH_LIMITS });
  let timer: NodeJS.Timeout | undefined;
  let settle!: (error?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  const reached = (topic: string, partition: number, lastOffset: string) => {
    const id = rangeId(topic, partition);
    const range = wanted.get(id);
    if (range && BigInt(lastOffset) + 1n >= range.to) {
      wanted.delete(id);
      out.complete.add(id);
      if (wanted.size === 0) settle();
    }
  };
  try {
    await consumer.connect();
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.topic, payload.partition, payload.lastOffset));
    consumer.on(consumer.events.CRASH, ({ payload }) => settle(payload.error));
    const topics = [...new Set(ranges.map((r) => r.topic))];
    await consumer.subscribe({ topics, fromBeginning: true });
    if (options.timeoutMs !== undefined) timer = setTimeout(() => settle(), options.timeoutMs);
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = wanted.get(rangeId(batch.topic, batch.partition));
        if (!range) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset < range.from) continue;
          if (offset >= range.to) break;
          out.bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
          try {
            // Awaited only when it is asynchronous: a synchronous reader keeps the batch loop tight.
            const handled = onMessage(message, batch.topic, batch.partition);
            if (handled) await handled;
          } catch (error) {
            settle(error);
            return;
          }
        }
      },
    });
    // Applied at the next fetch; a fetch already under way drops what it got for these partitions.
    for (const topic of topics) {
      const others = (options.partitions.get(topic) ?? []).filter((p) => !wanted.has(rangeId(topic, p)));
      if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    }
    for (const r of wanted.values()) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.from.toString() });
    await done;
    return out;
  } finally {
    clearTimeout(timer);
    // Whatever is still wanted was not read to its end: it stays out of `complete`.
    wanted.clear();
    await consumer.disconnect();
  }
}
