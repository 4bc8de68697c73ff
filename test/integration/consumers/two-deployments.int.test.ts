import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createConnector } from '../../../connectors/connector-factory.js';
import { topologyOf } from '../../../src/kafka/topology.js';
import { TrackerService } from '../../../src/tracker/tracker-service.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

const SUBJECTS = 200;

/**
 * Two Lethe deployments on one Kafka cluster (staging beside production, two apps): each with its
 * own erasures topic and everything else default. Before groups were namespaced they shared
 * `lethe.sink.redis` and `lethe.tracker`, and the partitions of each other's topics went unread.
 */
describe('two deployments on one cluster', () => {
  it('never share a consumer group, and both complete every erasure', async () => {
    const e = endpoints();
    const db = new pg.Client({ connectionString: e.databaseUrl });
    await db.connect();
    const redis = new Redis(e.redisUrl);
    const deployments = await Promise.all(
      ['prod', 'staging'].map(async (name) => {
        const p = uniqueName(name);
        const schema = uniqueName(`lethe_${name}`);
        const fx = await sinkFixture(`  redis:\n    url: ${e.redisUrl}\n    user: { keys: ["${p}:user:{subject}"] }\n`, `tracker: { database: "${e.databaseUrl}", schema: ${schema} }`);
        return { p, schema, fx, ids: Array.from({ length: SUBJECTS }, (_, i) => `${i + 1}`) };
      }),
    );
    await using _cleanup = {
      [Symbol.asyncDispose]: async () => {
        for (const d of deployments) {
          await d.fx[Symbol.asyncDispose]();
          await db.query(`DROP SCHEMA IF EXISTS ${d.schema} CASCADE`);
          const keys = await redis.keys(`${d.p}:*`);
          if (keys.length > 0) await redis.unlink(...keys);
        }
        redis.disconnect();
        await db.end();
      },
    };
    const [prod, staging] = deployments.map((d) => topologyOf(d.fx.catalog));
    expect(prod!.sinkGroup('redis')).not.toBe(staging!.sinkGroup('redis'));
    expect(prod!.trackerGroup).not.toBe(staging!.trackerGroup);

    const controller = new AbortController();
    const trackers: Array<Promise<void>> = [];
    await using _stop = { [Symbol.asyncDispose]: async () => void (controller.abort(), await Promise.allSettled(trackers)) };
    const apis: string[] = [];
    for (const d of deployments) {
      for (const id of d.ids) await redis.set(`${d.p}:user:${id}`, 'cached');
      await d.fx.publish(d.ids.map((id) => userErased(id)));
      d.fx.startRunner(createConnector('redis', d.fx.catalog, d.fx.logger));
      let listening!: (url: string) => void;
      const url = new Promise<string>((resolve) => (listening = resolve));
      trackers.push(new TrackerService({ catalog: d.fx.catalog, logger: d.fx.logger, listen: { host: '127.0.0.1', port: 0 }, onListening: listening }).run(controller.signal));
      apis.push(await url);
    }
    for (const [i, d] of deployments.entries()) {
      await waitFor(
        async () => {
          const { erasures } = (await (await fetch(`${apis[i]}/api/erasures?limit=1000`)).json()) as { erasures: Array<{ status: string }> };
          return erasures.length === SUBJECTS && erasures.every((s) => s.status === 'complete');
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `every erasure of deployment ${d.p} complete` },
      );
      expect(await redis.exists(...d.ids.map((id) => `${d.p}:user:${id}`))).toBe(0);
    }
  });
});
