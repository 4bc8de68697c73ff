import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KeptRangeReader } from '../../../src/kafka/kept-range-reader.js';
import { rangeId, type PartitionRange } from '../../../src/kafka/range-reader.js';
import { kafkaContext, type KafkaContext } from '../../support/kafka-context.js';
import { uniqueName } from '../../support/names.js';

/** Every partition of a topic from its log start to its end now. */
async function wholeTopic(admin: Admin, topic: string): Promise<PartitionRange[]> {
  return (await admin.fetchTopicOffsets(topic)).map((o) => ({ topic, partition: o.partition, from: BigInt(o.low), to: BigInt(o.high) }));
}

/** What a read took, per partition, as offsets in the order seen. */
async function readAll(reader: KeptRangeReader, ranges: readonly PartitionRange[], timeoutMs = 30_000) {
  const seen = new Map<string, bigint[]>();
  const read = await reader.read(ranges, (m, topic, partition) => void seen.set(rangeId(topic, partition), [...(seen.get(rangeId(topic, partition)) ?? []), BigInt(m.offset)]), { timeoutMs });
  return { read, seen };
}

/** The offsets [from, to) of each range, as a read of them must see them (no record is deleted here). */
const expected = (ranges: readonly PartitionRange[]) =>
  new Map(ranges.filter((r) => r.to > r.from).map((r) => [rangeId(r.topic, r.partition), Array.from({ length: Number(r.to - r.from) }, (_, i) => r.from + BigInt(i))]));

async function groupsOf(ctx: KafkaContext, prefix: string): Promise<number> {
  return (await ctx.admin.listGroups()).groups.filter((g) => g.groupId.startsWith(prefix)).length;
}

describe('compacted read-back: a kept reader', () => {
  it('reads range after range through one group: each read exactly its offsets, in order, once', async () => {
    await using ctx = await kafkaContext();
    const topic = ctx.topicName('lethe.test.readback');
    await ctx.createTopics([{ topic, numPartitions: 3 }]);
    const producer = ctx.kafka.producer();
    await producer.connect();
    const prefix = uniqueName('lethe-test-kept');
    const reader = new KeptRangeReader(ctx.kafka, prefix);
    try {
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: 'v' })) });
      for (let round = 0; round < 4; round++) {
        const ranges = await wholeTopic(ctx.admin, topic);
        // From the middle of a partition too: nothing before `from` is taken.
        const partial = ranges.map((r) => (r.partition === 0 ? { ...r, from: r.from + (r.to - r.from) / 2n } : r));
        const { read, seen } = await readAll(reader, partial);
        expect(read.complete).toEqual(new Set(ranges.map((r) => rangeId(r.topic, r.partition))));
        expect(seen).toEqual(expected(partial));
        await producer.send({ topic, acks: -1, messages: [{ key: `n${round}`, value: 'written between reads' }] });
      }
      expect(await groupsOf(ctx, prefix)).toBe(1);
    } finally {
      await reader.close();
      await producer.disconnect();
    }
  });

  it('a read stopped by its time limit leaves the next read exact; overlapping reads and a new topic get consumers of their own', async () => {
    await using ctx = await kafkaContext();
    const [first, second] = [ctx.topicName('lethe.test.readback'), ctx.topicName('lethe.test.readback')];
    await ctx.createTopics([first, second].map((topic) => ({ topic, numPartitions: 2 })));
    const producer = ctx.kafka.producer();
    await producer.connect();
    const reader = new KeptRangeReader(ctx.kafka, uniqueName('lethe-test-kept'));
    try {
      for (const topic of [first, second]) await producer.send({ topic, acks: -1, messages: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(100) })) });
      const ranges = await wholeTopic(ctx.admin, first);
      const cut = await readAll(reader, ranges, 1);
      expect(cut.read.complete.size).toBeLessThan(2);
      const whole = await readAll(reader, ranges);
      expect(whole.read.complete.size).toBe(2);
      expect(whole.seen).toEqual(expected(ranges));

      const both = [...ranges, ...(await wholeTopic(ctx.admin, second))];
      const reads = await Promise.all([readAll(reader, ranges), readAll(reader, both), readAll(reader, both)]);
      expect(reads[0]!.seen).toEqual(expected(ranges));
      for (const r of reads.slice(1)) {
        expect(r.read.complete.size).toBe(4);
        expect(r.seen).toEqual(expected(both));
      }
    } finally {
      await reader.close();
      await producer.disconnect();
    }
  });
});
