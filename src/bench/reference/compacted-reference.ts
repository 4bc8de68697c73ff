import { randomUUID } from 'node:crypto';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import type { ReferenceResult } from './in-chunks.js';

const { Partitioners } = kafkajs;

interface Reading {
  ranges: Map<number, { from: bigint; to: bigint; started: boolean }>;
  observe(partition: number, offset: bigint, key: string, value: Buffer | null): void;
  done(): void;
}

/**
 * The compacted sink's work written by hand, for the bench to compare the sink with: per chunk
 * of subjects, the tombstones of their keys (the profile and the order) in one send with
 * acks=all (the default partitioner, murmur2, as the sink's), then the same read-back: every
 * partition from its log start the first time (or from its first tombstone when more than
 * `historyRecords` offsets precede it), and from where the last chunk's read ended after that, to
 * the high watermark after writing, keeping per partition the keys read with a value; a key is
 * affected when a record of it with a value preceded its tombstone, residual when its latest
 * record from the tombstone on has a value. The read goes through one consumer joined once for
 * the whole run, each chunk's ranges sought and resumed, paused when read: what a person keeping
 * a reader would write.
 */
export async function compactedReference(kafka: Kafka, admin: Admin, topic: string, keysOf: (id: string) => string[], ids: readonly string[], chunk: number, historyRecords: number): Promise<ReferenceResult> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `lethe-bench-reference-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await Promise.all([producer.connect(), consumer.connect()]);
  let reading: Reading | undefined;
  const all = (await admin.fetchTopicOffsets(topic)).map((o) => o.partition);
  const finish = (partition: number) => {
    consumer.pause([{ topic, partitions: [partition] }]);
    reading!.ranges.delete(partition);
    if (reading!.ranges.size === 0) reading!.done();
  };
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = reading?.ranges.get(batch.partition);
        if (!range || batch.isEmpty()) return;
        // A batch fetched before this read's seek starts past `from`: not this read's.
        if (!range.started && BigInt(batch.firstOffset()!) > range.from) return;
        range.started = true;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < range.from) continue;
          if (offset >= range.to) break;
          reading!.observe(batch.partition, offset, m.key?.toString() ?? '', m.value);
        }
        if (BigInt(batch.lastOffset()) + 1n >= range.to) finish(batch.partition);
      },
    });
    consumer.pause([{ topic, partitions: all }]);
    // Per partition, the keys read with a value so far, and where the last read ended.
    const known = new Map<number, Set<string>>();
    const ends = new Map<number, bigint>();
    const started = Date.now();
    let affected = 0;
    let residual = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      const keys = ids.slice(i, i + chunk).flatMap(keysOf);
      const sent = await producer.send({ topic, acks: -1, messages: keys.map((key) => ({ key, value: null })) });
      // Offsets of the tombstones: each partition's base offset + the position among its messages.
      const firstTombstone = new Map(sent.map((r) => [r.partition, BigInt(r.baseOffset!)]));
      const offsets = await admin.fetchTopicOffsets(topic);
      const state = new Map<string, { hadValue: boolean; live: boolean }>();
      const ranges = new Map<number, { from: bigint; to: bigint; started: boolean }>();
      for (const o of offsets) {
        const [low, high] = [BigInt(o.low), BigInt(o.high)];
        const first = firstTombstone.get(o.partition);
        const before = (first ?? high) - low;
        const from = ends.get(o.partition) ?? (before <= BigInt(historyRecords) ? low : (first ?? high - BigInt(historyRecords)));
        if (high > from) ranges.set(o.partition, { from, to: high, started: false });
        ends.set(o.partition, high);
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`compacted reference: read-back of ${topic} not done in 30 s`)), 30_000);
        reading = {
          ranges,
          observe: (partition, offset, key, value) => {
            const id = `${partition}/${key}`;
            const valued = known.get(partition) ?? new Set<string>();
            known.set(partition, valued);
            if (value === null && !state.has(id) && keySet.has(key) && offset >= (firstTombstone.get(partition) ?? 0n)) {
              state.set(id, { hadValue: valued.has(key), live: false });
              return;
            }
            const s = state.get(id);
            if (s) s.live = value !== null;
            if (value !== null) valued.add(key);
          },
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const keySet = new Set(keys);
        if (ranges.size === 0) reading.done();
        for (const [partition, r] of ranges) consumer.seek({ topic, partition, offset: r.from.toString() });
        consumer.resume([{ topic, partitions: [...ranges.keys()] }]);
      });
      for (const s of state.values()) {
        if (s.hadValue) affected += 1;
        if (s.live) residual += 1;
      }
      // A key whose tombstone was not read back is not verified: counted as residual.
      residual += keys.length - state.size;
    }
    return { seconds: (Date.now() - started) / 1000, affected, residual };
  } finally {
    await Promise.allSettled([producer.disconnect(), consumer.disconnect()]);
  }
}
