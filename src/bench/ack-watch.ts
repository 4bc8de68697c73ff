import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import type { ErasureAck } from '../../consumers/sink-runner.js';
import { millis } from './bench-kit.js';

export interface Ack {
  eventId: string;
  subjectId: string;
  sink: string;
  outcome: string;
  residual: number;
  at: number;
}

/**
 * The bench's view of a run: every SubjectErased event (its commit time) and every ack, read
 * from the topics from the start. Times are the reader's commit times and the sinks' own ack
 * times, not when this process saw them.
 */
export class AckWatch {
  readonly commits = new Map<string, { subjectId: string; commitTime: number }>();
  readonly acks: Ack[] = [];
  private readonly consumers: Consumer[] = [];
  /** Per topic/partition, the offset after the last record read. */
  private readonly read = new Map<string, bigint>();

  constructor(
    private readonly kafka: Kafka,
    private readonly registryUrl: string,
    private readonly run: string,
  ) {}

  async start(topics: { erasures: string; acks: string }): Promise<void> {
    const registry = new SchemaRegistry({ host: this.registryUrl });
    const handlers: Array<[string, (v: Record<string, unknown>) => void]> = [
      [topics.erasures, (v) => void this.commits.set(String(v.eventId), { subjectId: String(v.subjectId), commitTime: millis(v.commitTime) })],
      [
        topics.acks,
        (v) => {
          const a = v as unknown as ErasureAck;
          this.acks.push({ eventId: a.eventId, subjectId: a.subjectId, sink: a.sink, outcome: a.outcome, residual: Number(a.residual), at: millis(a.at) });
        },
      ],
    ];
    for (const [topic, handle] of handlers) {
      const consumer = this.kafka.consumer({ groupId: `lethe-bench-${this.run}.watch.${topic}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: 3,
        eachMessage: async ({ partition, message }) => {
          handle(await registry.decode(message.value!));
          this.read.set(`${topic}/${partition}`, BigInt(message.offset) + 1n);
        },
      });
      this.consumers.push(consumer);
    }
  }

  /**
   * Per erasure of `subjects` in `sinks`: when its last target was acked (in any of the sinks),
   * for the erasures with `targets[sink]` acks in every sink; plus the outcomes that were not a
   * clean erasure.
   */
  done(sinks: Record<string, number>, subjects: ReadonlySet<string>): { at: Map<string, number>; perSink: Map<string, Map<string, number>>; unclean: number } {
    const count = new Map<string, number>();
    const perSink = new Map<string, Map<string, number>>(Object.keys(sinks).map((s) => [s, new Map()]));
    const last = new Map<string, number>();
    let unclean = 0;
    for (const a of this.acks) {
      if (!(a.sink in sinks) || !subjects.has(a.subjectId)) continue;
      if (a.outcome !== 'APPLIED' && a.outcome !== 'NOTHING_TO_DO') unclean += 1;
      else if (a.residual > 0) unclean += 1;
      const key = `${a.sink}/${a.eventId}`;
      count.set(key, (count.get(key) ?? 0) + 1);
      const sinkTimes = perSink.get(a.sink)!;
      if (count.get(key) === sinks[a.sink]) sinkTimes.set(a.eventId, Math.max(sinkTimes.get(a.eventId) ?? 0, a.at));
    }
    const eventIds = new Set([...perSink.values()].flatMap((m) => [...m.keys()]));
    for (const id of eventIds) {
      const times = [...perSink.values()].map((m) => m.get(id));
      if (times.every((t) => t !== undefined)) last.set(id, Math.max(...(times as number[])));
    }
    return { at: last, perSink, unclean };
  }

  /** Whether every record now on `topic` has been read (the watch is not behind the sinks). */
  async caughtUp(admin: Admin, topic: string): Promise<boolean> {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.every((o) => BigInt(o.high) <= (this.read.get(`${topic}/${o.partition}`) ?? BigInt(o.low)));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.disconnect()));
  }
}
