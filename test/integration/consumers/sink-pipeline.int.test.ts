import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisConnector } from '../../../connectors/redis-connector.js';
import type { SinkConnector, TargetResult } from '../../../connectors/sink-connector.js';
import { SinkRunner, type ErasureAck } from '../../../consumers/sink-runner.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';
import type { Catalog } from '../../../src/catalog/catalog.js';
import { topologyOf } from '../../../src/kafka/topology.js';
import { endpoints } from '../../support/endpoints.js';
import { EventCollector } from '../../support/event-collector.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

/** The real Redis connector, with the order and overlap of its applies written down. */
class RecordingConnector implements SinkConnector {
  readonly sink;
  readonly applies: Array<{ subjects: Set<string>; eventIds: string[]; started: number; ended?: number }> = [];
  private clock = 0;

  constructor(private readonly inner: SinkConnector) {
    this.sink = inner.sink;
  }

  handles(subjectType: string): boolean {
    return this.inner.handles(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    const entry: (typeof this.applies)[number] = { subjects: new Set(events.map((e) => e.subjectId)), eventIds: events.map((e) => e.eventId), started: this.clock++ };
    this.applies.push(entry);
    const results = await this.inner.apply(events);
    entry.ended = this.clock++;
    return results;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Committed offsets of the group, then the acks topic's ends: an ack in Kafka before the commit is below those ends. */
interface Snapshot {
  committed: Map<number, bigint>;
  ackEnds: Map<number, bigint>;
}

describe('sink runner pipeline', () => {
  it("applies a subject's events in order across pipelined chunks and partitions, and commits an offset only once its ack is in Kafka", async () => {
    const p = uniqueName('pl');
    await using fx = await sinkFixture(`  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:user:{subject}", "${p}:session:{subject}:*"]
`);
    const redis = new Redis(endpoints().redisUrl);
    await using _redis = { [Symbol.asyncDispose]: async () => void redis.disconnect() };
    // Small chunks, several in flight, every partition at once: a batch is many pipelined chunks.
    const catalog: Catalog = { ...fx.catalog, sinks: { ...fx.catalog.sinks, settings: { ...fx.catalog.sinks.settings, maxBatchEvents: 7, chunksInFlight: 4, partitionsInParallel: 3 } } };
    const subjects = Array.from({ length: 12 }, (_, i) => String(i + 1));
    const rounds = 8;
    const published: SubjectErased[] = [];
    const seed = async () => {
      const pipeline = redis.pipeline();
      for (const id of subjects) {
        pipeline.set(`${p}:user:${id}`, 'profile');
        for (let s = 0; s < 20; s++) pipeline.set(`${p}:session:${id}:${s}`, 'session');
      }
      await pipeline.exec();
    };
    await seed();
    const acks = await fx.acks();
    const erasures = await EventCollector.start<SubjectErased>(fx.kafka.kafka, endpoints().schemaRegistryUrl, fx.topics.erasures);
    await using _erasures = erasures;
    // A backlog first (one batch of many chunks per partition), then more rounds while it runs.
    const publishRound = async () => {
      const events = subjects.map((id) => userErased(id));
      published.push(...events);
      await fx.publish(events);
    };
    for (let r = 0; r < rounds / 2; r++) await publishRound();

    const connector = new RecordingConnector(new RedisConnector(catalog.sinks.redis!));
    const controller = new AbortController();
    const running = new SinkRunner({ catalog, connector, logger: fx.logger }).run(controller.signal);
    await using _runner = { [Symbol.asyncDispose]: async () => (controller.abort(), await running) };

    const groupId = topologyOf(catalog).sinkGroup('redis');
    const snapshots: Snapshot[] = [];
    const snapshot = async () => {
      const partitions = (await fx.kafka.admin.fetchOffsets({ groupId, topics: [fx.topics.erasures] }))[0]?.partitions ?? [];
      const ends = await fx.kafka.admin.fetchTopicOffsets(fx.topics.acks);
      snapshots.push({
        committed: new Map(partitions.filter((x) => Number(x.offset) >= 0).map((x) => [x.partition, BigInt(x.offset)])),
        ackEnds: new Map(ends.map((x) => [x.partition, BigInt(x.high)])),
      });
    };
    for (let r = rounds / 2; r < rounds; r++) {
      await snapshot();
      await publishRound();
    }
    await waitFor(
      async () => {
        await snapshot();
        const done = snapshots[snapshots.length - 1]!.committed;
        const total = [...done.values()].reduce((a, b) => a + b, 0n);
        return total === BigInt(published.length);
      },
      { timeoutMs: 60_000, what: 'every erasure committed' },
    );
    await waitFor(() => acks.values.length >= published.length * 2 && erasures.records.length === published.length, { timeoutMs: 30_000, what: 'every ack and erasure collected' });

    // Per subject, its events were applied in the order published, and never two of its applies at once.
    const firstApplied = [...new Set(connector.applies.flatMap((a) => a.eventIds))];
    for (const id of subjects) {
      const subjectId = published.find((e) => e.subjectKey[0]!.value === id)!.subjectId;
      const expected = published.filter((e) => e.subjectId === subjectId).map((e) => e.eventId);
      expect(firstApplied.filter((e) => expected.includes(e))).toEqual(expected);
      const mine = connector.applies.filter((a) => a.subjects.has(subjectId));
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.started).toBeGreaterThan(mine[i - 1]!.ended!);
    }
    // The pipeline was exercised: applies of different partitions overlapped.
    expect(connector.applies.some((a, i) => connector.applies.slice(i + 1).some((b) => b.started < a.ended!))).toBe(true);

    // Every commit seen covered only erasures whose acks were already in Kafka.
    const ackAt = new Map<string, Array<{ partition: number; offset: bigint }>>();
    for (const r of acks.records) {
      const list = ackAt.get((r.value as ErasureAck).eventId) ?? [];
      list.push({ partition: r.partition, offset: BigInt(r.offset) });
      ackAt.set((r.value as ErasureAck).eventId, list);
    }
    let checked = 0;
    for (const s of snapshots) {
      for (const e of erasures.records) {
        const committed = s.committed.get(e.partition);
        if (committed === undefined || BigInt(e.offset) >= committed) continue;
        const its = ackAt.get(e.value.eventId) ?? [];
        // Two targets, each acked below the acks topic's end read right after the commit.
        expect(its.filter((a) => a.offset < s.ackEnds.get(a.partition)!).length).toBeGreaterThanOrEqual(2);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(0);
    // And in the store: every subject's keys are gone.
    expect(await redis.keys(`${p}:*`)).toEqual([]);
    expect(acks.values.every((a) => a.outcome === 'APPLIED' || a.outcome === 'NOTHING_TO_DO')).toBe(true);
  });
});
