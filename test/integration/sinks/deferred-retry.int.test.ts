import { describe, expect, it } from 'vitest';
import type { SinkConnector, TargetResult } from '../../../connectors/sink-connector.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';
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
});
