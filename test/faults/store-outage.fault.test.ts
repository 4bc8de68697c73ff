import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner, type ErasureAck } from '../../consumers/sink-runner.js';
import { configuredSinks, type SinkName } from '../../src/catalog/sinks.js';
import { parseSinkHealth, type SinkHealthRecord } from '../../src/kafka/sink-health.js';
import { readTopic } from '../../src/kafka/topic-reader.js';
import { topologyOf } from '../../src/kafka/topology.js';
import { endpoints } from '../support/endpoints.js';
import { uniqueName } from '../support/names.js';
import { sinkFixture, userErased } from '../support/sink-fixture.js';
import { stackControl } from '../support/stack-control.js';
import { waitFor } from '../support/wait-for.js';

const SUBJECTS = 120;
const OUTAGE_MS = 30_000;
/** The targets each erasure has: one per sink here. */
const SINKS: SinkName[] = ['redis', 'elasticsearch', 'bigquery'];

describe('a store outage is a wait', () => {
  it('Redis, Elasticsearch and BigQuery down for 30 s during a burst: every erasure applied, no dead letter, no failed ack', async () => {
    const e = endpoints();
    const p = uniqueName('outage').replaceAll('_', '-');
    const dataset = p.replaceAll('-', '_');
    await using fx = await sinkFixture(`  redis:
    url: ${e.redisUrl}
    user: { keys: ["${p}:user:{subject}"] }
  elasticsearch:
    node: ${e.elasticsearchUrl}
    user: [{ index: ${p}-users, match: user_id, action: delete }]
  bigquery:
    projectId: ${e.bigqueryProjectId}
    apiEndpoint: ${e.bigqueryApiEndpoint}
    batch: { maxSubjects: 100, maxWaitMs: 200 }
    user: [{ table: ${dataset}.events, match: user_id, action: delete }]
`);
    await using stack = stackControl();
    const topology = topologyOf(fx.catalog);
    for (const sink of SINKS) fx.kafka.track(topology.dlq(sink)), fx.kafka.track(topology.retry(sink));
    const redis = new Redis(e.redisUrl, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    const es = new Client({ node: e.elasticsearchUrl });
    const bq = createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint });
    const [ds] = await bq.createDataset(dataset);
    await using _stores = {
      [Symbol.asyncDispose]: async () => {
        await es.indices.delete({ index: `${p}-users`, ignore_unavailable: true }).catch(() => undefined);
        await ds.delete({ force: true }).catch(() => undefined);
        const keys = await redis.keys(`${p}:*`);
        if (keys.length > 0) await redis.unlink(...keys);
        redis.disconnect();
        await es.close();
      },
    };

    // Subjects 1..N are erased; neighbours N+1..2N, and "1x"-style ids that share a prefix, stay.
    const subjects = Array.from({ length: SUBJECTS }, (_, i) => String(i + 1));
    const neighbours = [...Array.from({ length: SUBJECTS }, (_, i) => String(SUBJECTS + i + 1)), ...subjects.slice(0, 10).map((s) => `${s}0x`)];
    const everyone = [...subjects, ...neighbours];
    await es.indices.create({ index: `${p}-users`, settings: { number_of_replicas: 0 }, mappings: { properties: { user_id: { type: 'keyword' } } } });
    await es.bulk({ refresh: true, operations: everyone.flatMap((id) => [{ index: { _index: `${p}-users` } }, { user_id: id }]) });
    await redis.mset(...everyone.flatMap((id) => [`${p}:user:${id}`, 'cached']));
    await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${dataset}.events\` (user_id STRING, kind STRING)` });
    await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${dataset}.events\` (user_id, kind) SELECT id, 'visit' FROM UNNEST(@ids) AS id`, params: { ids: everyone } });

    const acks = await fx.acks();
    for (const sink of SINKS) fx.startRunner(createConnector(sink, fx.catalog, fx.logger));
    const events = subjects.map((id) => userErased(id));
    // A first wave reaches every store; the second is published while the stores are down.
    await fx.publish(events.slice(0, SUBJECTS / 2));
    await waitFor(() => acks.values.filter((a) => a.eventId === events[0]!.eventId).length === SINKS.length, { timeoutMs: 60_000, what: 'the first wave to be acked' });
    await stack.stop('elasticsearch', 'redis', 'bigquery');
    const stoppedAt = Date.now();
    await fx.publish(events.slice(SUBJECTS / 2));
    // The outage lasts as long as the fault says, whatever the sinks do meanwhile.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));

    // While down: each sink says it waits for its store, and nothing was dead-lettered or failed.
    const health = await healthRecords(fx, topology.health);
    for (const sink of SINKS) {
      expect(health.some((h) => h.sink === sink && h.state === 'waiting' && h.service === sink), `${sink} reported waiting`).toBe(true);
    }
    expect(acks.values.filter((a) => a.outcome === 'FAILED')).toEqual([]);
    await stack.start('elasticsearch', 'redis', 'bigquery');

    const done = (a: ErasureAck) => a.outcome === 'APPLIED' || a.outcome === 'NOTHING_TO_DO';
    await waitFor(
      () => events.every((ev) => SINKS.every((sink) => acks.values.some((a) => a.eventId === ev.eventId && a.sink === sink && done(a)))),
      { timeoutMs: 120_000, intervalMs: 500, what: 'every erasure acked by every sink after the outage' },
    );
    expect(acks.values.filter((a) => a.outcome === 'FAILED')).toEqual([]);
    for (const sink of SINKS) expect(await recordsOf(fx, topology.dlq(sink)), `dead letters of ${sink}`).toEqual([]);

    // The stores themselves, not the acks: every subject gone, every neighbour still there.
    await es.indices.refresh({ index: `${p}-users` });
    const left = await es.search<{ user_id: string }>({ index: `${p}-users`, size: 1000, query: { match_all: {} } });
    expect(left.hits.hits.map((h) => h._source!.user_id).sort()).toEqual([...neighbours].sort());
    expect(await redis.exists(...subjects.map((id) => `${p}:user:${id}`))).toBe(0);
    expect(await redis.exists(...neighbours.map((id) => `${p}:user:${id}`))).toBe(neighbours.length);
    const [rows] = await bq.query({ query: `SELECT user_id FROM \`${e.bigqueryProjectId}.${dataset}.events\`` });
    expect((rows as Array<{ user_id: string }>).map((r) => r.user_id).sort()).toEqual([...neighbours].sort());
    expect(configuredSinks(fx.catalog.sinks)).toEqual(['redis', 'elasticsearch', 'bigquery']);
  });
});

async function recordsOf(fx: Awaited<ReturnType<typeof sinkFixture>>, topic: string): Promise<KafkaMessage[]> {
  const out: KafkaMessage[] = [];
  await readTopic(fx.kafka.kafka, topic, async (m) => void out.push(m));
  return out;
}

async function healthRecords(fx: Awaited<ReturnType<typeof sinkFixture>>, topic: string): Promise<SinkHealthRecord[]> {
  return (await recordsOf(fx, topic)).map((m) => parseSinkHealth(m.value)).filter((r): r is SinkHealthRecord => r !== undefined);
}
