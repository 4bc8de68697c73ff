import { FETCH_LIMITS } from './kafka-client.js';
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { rangeId, type PartitionRange, type RangesRead } from './range-reader.js';

type OnMessage = (message: KafkaMessage, topic: string, partition: number) => void | Promise<void>;

/** One read under way on a kept consumer: its ranges, each partition's next offset to take. */
interface ActiveRead {
  ranges: Map<string, PartitionRange>;
  next: Map<string, bigint>;
  out: RangesRead;
  onMessage: OnMessage;
  settle: (error?: unknown) => void;
}

/**
 * One consumer, in a group of its own that commits nothing, joined once and kept: every partition
 * of its topics is paused between reads; a read seeks its partitions to their start and resumes
 * them. kafkajs fetches a node's partitions, hands the batches to the handlers and only then
 * fetches again (fetcher.js), so a read starts only when no fetch's batches are being handled (a
 * batch fetched for the previous read is never taken for this one), and within a read a
 * partition's batches come in offset order from its start: a record before the next offset
 * (re-delivered after a rebalance reset the position) is skipped, never seen twice.
 */
class KeptConsumer {
  readonly consumer: Consumer;
  readonly topics: ReadonlySet<string>;
  private assigned = new Set<string>();
  private handling = new Set<number>();
  private quiet: Array<() => void> = [];
  private active: ActiveRead | undefined;
  broken: unknown;

  constructor(kafka: Kafka, topics: ReadonlySet<string>, groupPrefix: string) {
    this.topics = topics;
    // The same retries as a throwaway group's join: a coordinator still loading is waited out.
    // A short wait: with every partition paused, kafkajs sleeps this long before it looks again,
    // so it is also how long a read waits for its first fetch; an idle consumer sends nothing.
    this.consumer = kafka.consumer({
      groupId: `${groupPrefix}-${randomUUID()}`,
      maxWaitTimeInMs: 10,
      allowAutoTopicCreation: false,
      ...FETCH_LIMITS,
      retry: { retries: 6, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
  }

  async start(): Promise<void> {
    const { events } = this.consumer;
    this.consumer.on(events.GROUP_JOIN, ({ payload }) => {
      this.assigned = new Set(Object.entries(payload.memberAssignment).flatMap(([topic, ps]) => ps.map((p) => rangeId(topic, p))));
      // A rejoin stopped the fetchers (and their batches' handling) and starts new ones.
      this.handling.clear();
      this.pauseIdle();
    });
    this.consumer.on(events.FETCH, ({ payload }) => void this.handling.add(payload.nodeId));
    this.consumer.on(events.FETCH_START, ({ payload }) => {
      this.handling.delete(payload.nodeId);
      if (this.handling.size === 0) for (const wake of this.quiet.splice(0)) wake();
    });
    this.consumer.on(events.END_BATCH_PROCESS, ({ payload }) => this.progress(payload.topic, payload.partition, BigInt(payload.lastOffset) + 1n));
    this.consumer.on(events.CRASH, ({ payload }) => {
      this.broken = payload.error;
      this.active?.settle(payload.error);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.topics], fromBeginning: true });
    await this.consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => this.take(batch.topic, batch.partition, batch.messages) });
    this.pauseIdle();
  }

  /** Whether every partition of `ranges` is in this consumer's assignment. */
  covers(ranges: readonly PartitionRange[]): boolean {
    return ranges.every((r) => this.topics.has(r.topic) && this.assigned.has(rangeId(r.topic, r.partition)));
  }

  async read(ranges: readonly PartitionRange[], onMessage: OnMessage, timeoutMs: number | undefined): Promise<RangesRead> {
    const wanted = ranges.filter((r) => r.to > r.from);
    const out: RangesRead = { complete: new Set(ranges.filter((r) => r.to <= r.from).map((r) => rangeId(r.topic, r.partition))), bytes: 0 };
    if (wanted.length === 0) return out;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<void>((resolve) => {
      if (timeoutMs !== undefined) timer = setTimeout(() => ((timedOut = true), resolve()), timeoutMs);
    });
    try {
      if (this.handling.size > 0) await Promise.race([new Promise<void>((resolve) => this.quiet.push(resolve)), deadline]);
      if (timedOut) return out;
      const done = new Promise<void>((resolve, reject) => {
        const settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
        const ids = wanted.map((r) => [rangeId(r.topic, r.partition), r] as const);
        this.active = { ranges: new Map(ids), next: new Map(ids.map(([id, r]) => [id, r.from])), out, onMessage, settle };
      });
      for (const r of wanted) {
        this.consumer.seek({ topic: r.topic, partition: r.partition, offset: r.from.toString() });
        this.consumer.resume([{ topic: r.topic, partitions: [r.partition] }]);
      }
      await Promise.race([done, deadline]);
      return out;
    } finally {
      clearTimeout(timer);
      this.active = undefined;
      this.pauseIdle();
    }
  }

  private async take(topic: string, partition: number, messages: KafkaMessage[]): Promise<void> {
    const read = this.active;
    const id = rangeId(topic, partition);
    const range = read?.ranges.get(id);
    if (!read || !range) return;
    for (const message of messages) {
      const offset = BigInt(message.offset);
      if (offset < read.next.get(id)!) continue;
      if (offset >= range.to) break;
      read.out.bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
      read.next.set(id, offset + 1n);
      try {
        // Awaited only when it is asynchronous: a synchronous reader keeps the batch loop tight.
        const handled = read.onMessage(message, topic, partition);
        if (handled) await handled;
      } catch (error) {
        read.settle(error);
        return;
      }
      if (this.active !== read) return;
    }
  }

  /**
   * A batch handled to its last offset (control records included, which are never delivered as
   * messages): the range's next offset moves past it, and a range reaching its end is complete.
   */
  private progress(topic: string, partition: number, after: bigint): void {
    const read = this.active;
    const id = rangeId(topic, partition);
    const range = read?.ranges.get(id);
    if (!read || !range || read.out.complete.has(id)) return;
    if (after > read.next.get(id)!) read.next.set(id, after);
    if (read.next.get(id)! < range.to) return;
    read.out.complete.add(id);
    this.consumer.pause([{ topic, partitions: [partition] }]);
    if ([...read.ranges.keys()].every((k) => read.out.complete.has(k))) read.settle();
  }

  private pauseIdle(): void {
    this.consumer.pause([...this.topics].map((topic) => ({ topic })));
    for (const r of this.active?.ranges.values() ?? []) {
      if (!this.active!.out.complete.has(rangeId(r.topic, r.partition))) this.consumer.resume([{ topic: r.topic, partitions: [r.partition] }]);
    }
  }

  async close(): Promise<void> {
    await this.consumer.disconnect();
  }
}

/**
 * Range reads without joining a group per read: consumers joined once and kept, one per read
 * under way (reads may overlap), each read on an idle one. A read naming a topic or partition a
 * kept consumer does not have (a topic first written, a topic that gained partitions) gets a new
 * consumer, subscribed to every topic read so far, and the old one leaves its group. A consumer
 * that crashed, or whose read threw, is not kept.
 */
export class KeptRangeReader {
  private readonly idle: KeptConsumer[] = [];
  private readonly all = new Set<KeptConsumer>();
  private readonly topics = new Set<string>();
  /** Bumped by `close`: a read under way then retires its consumer instead of keeping it. */
  private generation = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly groupPrefix: string,
  ) {}

  /**
   * Reads given offset ranges of partitions (one range per partition), each from its start to its
   * end offset (exclusive). A range ends when a batch reaches its end offset: a transaction's
   * control records are never delivered as messages, so progress is taken from kafkajs's batch
   * events, which see them. Stops at `timeoutMs` (when given), reporting the ranges not finished by
   * then as incomplete; a consumer that crashes, or an `onMessage` that throws, rejects.
   */
  async read(ranges: readonly PartitionRange[], onMessage: OnMessage, options: { timeoutMs?: number } = {}): Promise<RangesRead> {
    const generation = this.generation;
    for (const r of ranges) this.topics.add(r.topic);
    let kept = this.idle.pop();
    // One that crashed while idle, or does not cover these partitions, is not used again.
    if (kept && (kept.broken !== undefined || !kept.covers(ranges.filter((r) => r.to > r.from)))) {
      await this.retire(kept);
      kept = undefined;
    }
    kept ??= await this.open();
    let healthy = true;
    try {
      const out = await kept.read(ranges, onMessage, options.timeoutMs);
      healthy = kept.broken === undefined;
      return out;
    } catch (error) {
      healthy = false;
      throw error;
    } finally {
      if (healthy && generation === this.generation) this.idle.push(kept);
      else await this.retire(kept);
    }
  }

  private async open(): Promise<KeptConsumer> {
    const kept = new KeptConsumer(this.kafka, new Set(this.topics), this.groupPrefix);
    this.all.add(kept);
    try {
      await kept.start();
    } catch (error) {
      await this.retire(kept);
      throw error;
    }
    return kept;
  }

  private async retire(kept: KeptConsumer): Promise<void> {
    this.all.delete(kept);
    await kept.close().catch(() => undefined);
  }

  /** Leaves every kept consumer's group; a later read joins anew. */
  async close(): Promise<void> {
    this.generation += 1;
    this.idle.length = 0;
    await Promise.all([...this.all].map((k) => this.retire(k)));
  }
}
