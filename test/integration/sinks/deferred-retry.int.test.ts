import { describe, expect, it } from 'vitest';
import type { SinkConnector, TargetResult } from '../../../connectors/sink-connector.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';
import { replayErasures } from '../../../src/replay/erasure-replay.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * A connector whose store refuses the first change of each subject, as BigQuery refuses rows
 * still in its streaming buffer. Test code for the runner's deferral mechanism; Kafka is real.
 */
class StreamingBufferStore implements SinkConnector {
  readonly sink = 'bigquery' as const;
  readonly seen = new Map<string, number>();
  handles(type: string) {
    return type === 'user';
  }
  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    return events.map((e) => {
      const n = (this.seen.get(e.subjectId) ?? 0) + 1;
      this.seen.set(e.subjectId, n);
      return [n === 1 ? { target: 'table t', affected: 0, residual: 1, deferred: 'rows in the streaming buffer' } : { target: 'table t', affected: 1, residual: 0 }];
    });
  }
  async close() {}
}

describe('sink runner, deferred erasures', () => {
  it('acks DEFERRED, keeps the event in the retry topic, and applies it when due', async () => {
    await using fx = await sinkFixture(`  bigquery: { projectId: p, user: [{ table: d.t, match: id, action: delete }] }`);
    const acks = await fx.acks();
    const event = userErased('77');
    await fx.publish([event]);
    const store = new StreamingBufferStore();
    const started = Date.now();
    fx.startRunner(store);
    const both = await waitFor(() => (acks.values.length >= 2 ? acks.values : undefined), { timeoutMs: 30_000, what: 'a deferred ack, then an applied one' });
    expect(both.map((a) => [a.eventId, a.outcome, a.attempt])).toEqual([
      [event.eventId, 'DEFERRED', 1],
      [event.eventId, 'APPLIED', 2],
    ]);
    expect(both[0]!.error).toMatch(/streaming buffer/);
    // Not retried before deferredRetryMs (1.5 s in this catalog).
    expect(both[1]!.at - started).toBeGreaterThanOrEqual(1500);
    expect(store.seen.get('77')).toBe(2);
  });

  it('keeps the replay flag on an erasure a replay deferred, when the live group applies it later', async () => {
    await using fx = await sinkFixture(`  bigquery: { projectId: p, user: [{ table: d.t, match: id, action: delete }] }`);
    const acks = await fx.acks();
    const since = Date.now() - 1000;
    const event = userErased('78');
    await fx.publish([event]);
    const store = new StreamingBufferStore();
    // The replay ends at the end offsets it captured; the deferred erasure waits in the retry topic.
    const summary = await replayErasures({ catalog: fx.catalog, sink: 'bigquery', since, logger: fx.logger, connector: store });
    expect(summary.acks.DEFERRED).toBe(1);
    // The live group applies the erasure from the erasures topic (its own, live, ack) and the
    // deferred record from the retry topic (acked as the replay it came from).
    fx.startRunner(store);
    const all = await waitFor(() => (acks.values.length >= 3 ? acks.values : undefined), { timeoutMs: 30_000, what: 'the replay deferral and both later acks' });
    const described = all.map((a) => `${a.outcome} replay=${a.replay} attempt=${a.attempt}`).sort();
    expect(described).toEqual(['APPLIED replay=false attempt=1', 'APPLIED replay=true attempt=2', 'DEFERRED replay=true attempt=1']);
    expect(all.every((a) => a.eventId === event.eventId)).toBe(true);
  });
});
