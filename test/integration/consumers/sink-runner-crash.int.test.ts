import { describe, expect, it } from 'vitest';
import type { SinkConnector, TargetResult } from '../../../connectors/sink-connector.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';
import { SinkRunner } from '../../../consumers/sink-runner.js';
import { capturingLogger } from '../../support/log-capture.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * A connector whose result makes an ack larger than the broker accepts: producing it fails with
 * MESSAGE_TOO_LARGE, which kafkajs does not retry, so the consumer crashes and stays down. Test
 * code for the runner's crash handling; Kafka is real.
 */
class OversizedDetailsStore implements SinkConnector {
  readonly sink = 'redis' as const;
  handles(type: string) {
    return type === 'user';
  }
  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    return events.map(() => [{ target: 'key user:{subject}', affected: 1, residual: 0, details: { note: 'x'.repeat(2_000_000) } }]);
  }
  async close() {}
}

describe('sink runner, consumer crash', () => {
  it('ends its run with the error when kafkajs will not restart the consumer', async () => {
    await using fx = await sinkFixture(`  redis: { url: "redis://unused", user: { keys: ["user:{subject}"] } }`);
    await fx.publish([userErased('41')]);
    const controller = new AbortController();
    await using _stop = { [Symbol.asyncDispose]: async () => controller.abort() };
    const { logger, lines } = capturingLogger();
    let ended: unknown;
    void new SinkRunner({ catalog: fx.catalog, connector: new OversizedDetailsStore(), logger })
      .run(controller.signal)
      .then(
        () => (ended = 'returned'),
        (error: unknown) => (ended = error),
      );
    const error = await waitFor(() => ended, { timeoutMs: 20_000, what: 'the runner to end after the crash' });
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/larger than the max message size|MESSAGE_TOO_LARGE|too large/i);
    expect(controller.signal.aborted).toBe(false);
    expect(lines.some((line) => line.includes('consumer crashed') && line.includes('"restart":false'))).toBe(true);
  });
});
