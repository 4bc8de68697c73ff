import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner, type ErasureAck } from '../../consumers/sink-runner.js';
import { configuredSinks, type SinkName } from '../../src/catalog/sinks.js';
import { parseSinkHealth, type SinkHealthRecord } from '../../src/kafka/sink-health.js';
import { topologyOf } from '../../src/kafka/topology.js';
import type { ErasureStatus } from '../../src/tracker/erasure-status.js';
import { TrackerService } from '../../src/tracker/tracker-service.js';
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
    const trackerSchema = uniqueName('lethe_outage');
    await using fx = await sinkFixture(
      `  redis:
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
`,
      `tracker: { database: "${e.databaseUrl}", schema: ${trackerSchema}, overdueCheckMs: 500 }`,
    );
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
        const db = new pg.Client({ connectionString: e.databaseUrl });
        await db.connect();
        await db.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`);
        await db.end();
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
    let api = '';
    const stopTracker = new AbortController();
    const tracker = new TrackerService({ catalog: fx.catalog, logger: fx.logger, listen: { host: '127.0.0.1', port: 0 }, onListening: (url) => (api = url) }).run(stopTracker.signal);
    await using _tracker = { [Symbol.asyncDispose]: async () => void (stopTracker.abort(), await tracker) };
    const get = async <T>(path: string) => (await (await fetch(`${api}${path}`)).json()) as T;
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
    // The tracker says so too: each sink waits for its store, and an erasure of the second wave
    // is not failed but says what it waits for.
    const waiting = await waitFor(async () => {
      const { waiting } = await get<{ waiting: Array<{ sink: string; service: string; message: string }> }>('/api/sinks');
      return waiting.length === SINKS.length ? waiting : undefined;
    }, { timeoutMs: 20_000, what: 'the tracker to show every sink waiting' });
    expect(waiting.map((w) => [w.sink, w.service])).toEqual([['bigquery', 'bigquery'], ['elasticsearch', 'elasticsearch'], ['redis', 'redis']]);
    const late = await get<ErasureStatus & { waiting: string[] }>(`/api/erasures/${events[SUBJECTS - 1]!.eventId}`);
    expect(late.status).not.toBe('failed');
    expect(late.waiting.some((w) => /^elasticsearch waiting: elasticsearch unreachable since \d{4}-/.test(w))).toBe(true);
    await stack.start('elasticsearch', 'redis', 'bigquery');

    const done = (a: ErasureAck) => a.outcome === 'APPLIED' || a.outcome === 'NOTHING_TO_DO';
    await waitFor(
      () => events.every((ev) => SINKS.every((sink) => acks.values.some((a) => a.eventId === ev.eventId && a.sink === sink && done(a)))),
      { timeoutMs: 120_000, intervalMs: 500, what: 'every erasure acked by every sink after the outage' },
    );
    expect(acks.values.filter((a) => a.outcome === 'FAILED')).toEqual([]);
    for (const sink of SINKS) expect(await fx.kafka.records(topology.dlq(sink)), `dead letters of ${sink}`).toEqual([]);

    // The stores themselves, not the acks: every subject gone, every neighbour still there.
    await es.indices.refresh({ index: `${p}-users` });
    const left = await es.search<{ user_id: string }>({ index: `${p}-users`, size: 1000, query: { match_all: {} } });
    expect(left.hits.hits.map((h) => h._source!.user_id).sort()).toEqual([...neighbours].sort());
    expect(await redis.exists(...subjects.map((id) => `${p}:user:${id}`))).toBe(0);
    expect(await redis.exists(...neighbours.map((id) => `${p}:user:${id}`))).toBe(neighbours.length);
    const [rows] = await bq.query({ query: `SELECT user_id FROM \`${e.bigqueryProjectId}.${dataset}.events\`` });
    expect((rows as Array<{ user_id: string }>).map((r) => r.user_id).sort()).toEqual([...neighbours].sort());
    expect(configuredSinks(fx.catalog.sinks)).toEqual(['redis', 'elasticsearch', 'bigquery']);
    // The tracker: every erasure complete, no sink waiting any more, each outage counted.
    await waitFor(async () => {
      const { erasures } = await get<{ erasures: Array<{ status: string }> }>('/api/erasures?limit=1000');
      return erasures.length === SUBJECTS && erasures.every((x) => x.status === 'complete');
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'every erasure complete in the tracker' });
    await waitFor(async () => (await get<{ waiting: unknown[] }>('/api/sinks')).waiting.length === 0, { timeoutMs: 20_000, what: 'no sink waiting' });
    const metrics = await (await fetch(`${api}/metrics`)).text();
    for (const sink of SINKS) expect(metrics).toMatch(new RegExp(`^lethe_sink_outages_total\\{sink="${sink}"\\} [1-9]`, 'm'));
  });
});

async function healthRecords(fx: Awaited<ReturnType<typeof sinkFixture>>, topic: string): Promise<SinkHealthRecord[]> {
  return (await fx.kafka.records(topic)).map((m) => parseSinkHealth(m.value)).filter((r): r is SinkHealthRecord => r !== undefined);
}
