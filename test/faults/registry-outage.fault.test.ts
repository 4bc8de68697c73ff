import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner, type ErasureAck } from '../../consumers/sink-runner.js';
import { topologyOf } from '../../src/kafka/topology.js';
import { TrackerService } from '../../src/tracker/tracker-service.js';
import { cdcFixture } from '../support/cdc-fixture.js';
import { endpoints } from '../support/endpoints.js';
import { EventCollector } from '../support/event-collector.js';
import { uniqueName } from '../support/names.js';
import { stackControl } from '../support/stack-control.js';
import { waitFor } from '../support/wait-for.js';

const SUBJECTS = 60;
const OUTAGE_MS = 30_000;

describe('the schema registry down is a wait', () => {
  it('stopped for 30 s while erasures arrive: the sink and the tracker wait, then every erasure completes; nothing dead-lettered or skipped', async () => {
    const e = endpoints();
    const p = uniqueName('reg').replaceAll('_', '-');
    const trackerSchema = uniqueName('lethe_reg');
    await using fx = await cdcFixture({
      sinks: () => `  settings: { retryInitialMs: 50, retryMaxMs: 1000 }
  redis:
    url: ${e.redisUrl}
    customer: { keys: ["${p}:customer:{subject}"] }
`,
      extra: `tracker: { schema: ${trackerSchema}, overdueCheckMs: 500 }\n`,
    });
    await using stack = stackControl();
    const topology = topologyOf(fx.catalog);
    const redis = new Redis(e.redisUrl);
    await using _cleanup = {
      [Symbol.asyncDispose]: async () => {
        const keys = await redis.keys(`${p}:*`);
        if (keys.length > 0) await redis.unlink(...keys);
        await fx.db.client.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`);
        redis.disconnect();
      },
    };
    const ids = Array.from({ length: SUBJECTS * 2 }, () => randomUUID());
    const [subjects, neighbours] = [ids.slice(0, SUBJECTS), ids.slice(SUBJECTS)];
    for (const id of ids) {
      await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, $2)`, [id, `${id.slice(0, 8)}@seeded.example`]);
      await redis.set(`${p}:customer:${id}`, 'cached');
    }

    // Everything runs, with nothing read yet: the sink and the tracker have no schema cached, the
    // reader has registered its own. Then the registry stops and the subjects are deleted.
    const controller = new AbortController();
    const services = [
      new SinkRunner({ catalog: fx.catalog, connector: createConnector('redis', fx.catalog, fx.logger), logger: fx.logger }).run(controller.signal),
      new TrackerService({ catalog: fx.catalog, logger: fx.logger, listen: { host: '127.0.0.1', port: 0 } }).run(controller.signal),
    ];
    const reader = fx.startReader();
    await using _services = { [Symbol.asyncDispose]: async () => void (controller.abort(), await Promise.allSettled(services), await reader.stop()) };
    await fx.slotCaughtUp();
    await stack.stop('schema-registry');
    const stoppedAt = Date.now();
    for (const id of subjects) await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [id]);
    await waitFor(async () => (await fx.publishedCount()) >= SUBJECTS, { timeoutMs: 30_000, what: 'the reader to publish the deletes (its schema is cached)' });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    // While it is down nothing is dead-lettered and nothing erased: the sink waits to decode.
    expect(await fx.kafka.records(topology.dlq('redis'))).toEqual([]);
    expect(await redis.exists(...subjects.map((id) => `${p}:customer:${id}`))).toBe(SUBJECTS);
    await stack.start('schema-registry');

    const acks = await EventCollector.start<ErasureAck>(fx.kafka.kafka, e.schemaRegistryUrl, topology.acks);
    await using _acks = acks;
    await waitFor(() => acks.values.filter((a) => a.outcome === 'APPLIED').length >= SUBJECTS, { timeoutMs: 90_000, intervalMs: 500, what: 'every erasure applied after the registry returned' });
    expect(acks.values.filter((a) => a.outcome === 'FAILED')).toEqual([]);
    expect(await fx.kafka.records(topology.dlq('redis'))).toEqual([]);
    expect(await redis.exists(...subjects.map((id) => `${p}:customer:${id}`))).toBe(0);
    expect(await redis.exists(...neighbours.map((id) => `${p}:customer:${id}`))).toBe(SUBJECTS);
    // The tracker waited too, rather than skip what it could not decode: every erasure is complete.
    const complete = await waitFor(
      async () => {
        const { rows } = await fx.db.client.query<{ status: string; n: string }>(`SELECT status, count(*)::text AS n FROM ${trackerSchema}.erasures GROUP BY status`);
        const counts = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
        return counts.complete === SUBJECTS && Object.keys(counts).length === 1 ? counts : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the tracker to show every erasure complete' },
    );
    expect(complete).toEqual({ complete: SUBJECTS });
  });
});

