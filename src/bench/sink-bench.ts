import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner, type ErasureAck } from '../../consumers/sink-runner.js';
import { parseCatalog } from '../catalog/catalog.js';
import { configuredSinks, type SinkName } from '../catalog/sinks.js';
import { CdcReader } from '../cdc/cdc-reader.js';
import { deleteValueSubject } from '../events/event-codec.js';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { sleep } from '../retry.js';
import { missingVariables, resolveEndpoints } from '../stack/endpoints.js';
import { TrackerService } from '../tracker/tracker-service.js';

/**
 * `make bench`, sinks stage: N subjects with data in every store, deleted in PostgreSQL in a
 * burst of single-subject transactions; per sink, erasures per second (burst start, or the
 * sink's start, to the N-th ack) and commit-to-ack latency p50/p99; beside each, in the same run, the store's raw
 * rate for the same amount of work (redis-benchmark UNLINK pipelined, one _bulk delete by id,
 * one batched DML statement, one batch of tombstones). The tracker runs beside them, as in
 * `lethe run`: the time until it holds every erasure complete, and commit-to-complete p50/p99.
 * Writes bench-results/sinks.json.
 */
const exec = promisify(execFile);
const { Partitioners } = kafkajs;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const missing = missingVariables(process.env);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run through \`make bench\``);
  const e = resolveEndpoints(process.env);
  const n = Number(process.env.BENCH_SINK_SUBJECTS ?? 5000);
  const run = `sb_${Date.now().toString(36)}`;
  const dash = run.replaceAll('_', '-');
  const logger = createLogger({ level: 'warn' });
  const log = (m: string) => process.stdout.write(`[bench] ${m}\n`);
  const db = new pg.Client({ connectionString: e.databaseUrl });
  await db.connect();
  const kafka = createKafka({ brokers: e.kafkaBrokers, clientId: 'lethe-bench', logger });
  const admin = kafka.admin();
  await admin.connect();
  const redis = new Redis(e.redisUrl);
  const es = new Client({ node: e.elasticsearchUrl });
  const bq = createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint });
  const topics = { erasures: `lethe.bench.${run}.erasures`, acks: `lethe.bench.${run}.acks`, status: `lethe.bench.${run}.status`, profiles: `lethe.bench.${run}.profiles` };
  const trackerSchema = `${run}_tracker`;
  const sinkTopics = (['redis', 'elasticsearch', 'bigquery', 'compacted'] as const).flatMap((s) => [`lethe.bench.${run}.dlq.${s}`, `lethe.bench.${run}.retry.${s}`]);
  const ids = Array.from({ length: n }, (_, i) => String(i + 1));
  const controller = new AbortController();
  const running: Array<Promise<void>> = [];

  try {
    log(`${n} subjects with data in Redis, Elasticsearch, BigQuery and a compacted topic`);
    await db.query(`CREATE SCHEMA ${run}`);
    await db.query(`CREATE TABLE ${run}.users (id bigint PRIMARY KEY)`);
    await db.query(`INSERT INTO ${run}.users SELECT generate_series(1, $1)`, [n]);
    await db.query(`CREATE PUBLICATION ${run}_pub FOR TABLE ${run}.users`);
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [`${run}_slot`]);
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: topics.erasures, numPartitions: 6 },
        { topic: topics.acks, numPartitions: 6 },
        { topic: topics.profiles, numPartitions: 6, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ],
    });
    for (let i = 0; i < n; i += 1000) {
      const pipeline = redis.pipeline();
      for (const id of ids.slice(i, i + 1000)) pipeline.set(`${run}:user:${id}`, 'profile').set(`${run}:raw:${id.padStart(12, '0')}`, 'x');
      await pipeline.exec();
    }
    await es.indices.create({ index: `${dash}-users`, settings: { number_of_replicas: 0 }, mappings: { properties: { user_id: { type: 'keyword' } } } });
    await es.indices.create({ index: `${dash}-raw`, settings: { number_of_replicas: 0 } });
    for (let i = 0; i < n; i += 2000) {
      const slice = ids.slice(i, i + 2000);
      await es.bulk({ operations: slice.flatMap((id) => [{ index: { _index: `${dash}-users` } }, { user_id: id }, { index: { _index: `${dash}-raw`, _id: id } }, { user_id: id }]) });
    }
    await es.indices.refresh({ index: `${dash}-*` });
    await bq.createDataset(run);
    for (const t of ['events', 'raw']) {
      await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${run}.${t}\` (user_id STRING)` });
      await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${run}.${t}\` (user_id) SELECT id FROM UNNEST(@ids) AS id`, params: { ids } });
    }
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (let i = 0; i < n; i += 2000) await producer.send({ topic: topics.profiles, messages: ids.slice(i, i + 2000).map((id) => ({ key: id, value: 'profile' })) });

    const catalog = parseCatalog(
      JSON.stringify({
        source: { url: e.databaseUrl, publication: `${run}_pub`, slot: `${run}_slot`, heartbeatIntervalMs: 1000 },
        kafka: { brokers: e.kafkaBrokers, schemaRegistry: e.schemaRegistryUrl, topics: { erasures: topics.erasures, acks: topics.acks, status: topics.status }, groupPrefix: `lethe.bench.${run}` },
        tracker: { schema: trackerSchema, port: 0 },
        subjects: { user: { table: `${run}.users`, key: 'id' } },
        sinks: {
          settings: { maxBatchEvents: 500 },
          redis: { url: e.redisUrl, user: { keys: [`${run}:user:{subject}`] } },
          elasticsearch: { node: e.elasticsearchUrl, user: [{ index: `${dash}-users`, match: 'user_id', action: 'delete' }] },
          bigquery: { projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint, batch: { maxSubjects: 500, maxWaitMs: 200 }, user: [{ table: `${run}.events`, match: 'user_id', action: 'delete' }] },
          compacted: { user: [{ topic: topics.profiles, key: '{subject}' }] },
        },
      }),
      {},
    );

    // Commit times by event id, and acks as they arrive.
    const registry = new SchemaRegistry({ host: e.schemaRegistryUrl });
    const commitTimes = new Map<string, number>();
    const publishDelays: number[] = [];
    const acks: ErasureAck[] = [];
    for (const [topic, onValue] of [
      [
        topics.erasures,
        (v: { eventId: string; commitTime: number; emittedAt: number }) => {
          commitTimes.set(v.eventId, v.commitTime);
          publishDelays.push(v.emittedAt - v.commitTime);
        },
      ],
      [topics.acks, (v: ErasureAck) => void acks.push(v)],
    ] as const) {
      const consumer = kafka.consumer({ groupId: `${run}.watch.${topic}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => (onValue as (v: unknown) => void)(await registry.decode(message.value!)) });
      running.push(new Promise<void>((r) => controller.signal.addEventListener('abort', () => void consumer.disconnect().then(r), { once: true })));
    }
    running.push(new CdcReader({ catalog, logger }).run(controller.signal));
    // The BigQuery emulator takes more than a core for its DML; run beside the others it starves
    // them of the machine's two cores, so its sink starts once theirs are done.
    const startSink = (sink: SinkName) =>
      running.push(
        new SinkRunner({
          catalog,
          connector: createConnector(sink, catalog, logger),
          logger,
        }).run(controller.signal),
      );
    const sinks = configuredSinks(catalog.sinks);
    for (const sink of sinks.filter((s) => s !== 'bigquery')) startSink(sink);
    running.push(new TrackerService({ catalog, logger }).run(controller.signal));
    await sleep(3000); // consumer groups joined

    log('burst: every subject deleted, one transaction each');
    await db.query(`CREATE PROCEDURE ${run}.erase_all() LANGUAGE plpgsql AS $$
      DECLARE r bigint; BEGIN FOR r IN SELECT id FROM ${run}.users ORDER BY id LOOP DELETE FROM ${run}.users WHERE id = r; COMMIT; END LOOP; END $$`);
    const burst = Date.now();
    await db.query(`CALL ${run}.erase_all()`);
    const burstMs = Date.now() - burst;
    log(`burst committed in ${burstMs} ms (${Math.round(n / (burstMs / 1000))} transactions/s): no sink can finish sooner`);
    const started = new Map<SinkName, number>(sinks.filter((s) => s !== 'bigquery').map((s) => [s, burst]));
    const finished = new Map<SinkName, number>();
    const deadline = Date.now() + 15 * 60_000;
    while (finished.size < sinks.length) {
      if (Date.now() > deadline) throw new Error(`timed out; acks so far: ${sinks.map((s) => `${s} ${acks.filter((a) => a.sink === s).length}`).join(', ')}`);
      for (const s of started.keys()) if (!finished.has(s) && acks.filter((a) => a.sink === s).length >= n) finished.set(s, Date.now());
      if (!started.has('bigquery') && finished.size === started.size) {
        log('bigquery sink starting on the same backlog');
        started.set('bigquery', Date.now());
        startSink('bigquery');
      }
      await sleep(100);
    }

    const completeCount = async () => Number((await db.query(`SELECT count(*) AS n FROM ${trackerSchema}.erasures WHERE status = 'complete'`)).rows[0].n);
    while ((await completeCount()) < n) {
      if (Date.now() > deadline) throw new Error(`timed out; the tracker holds ${await completeCount()} of ${n} erasures complete`);
      await sleep(100);
    }
    // How far the tracker trails the sinks: from an erasure's last ack to its status stored complete.
    const { rows: trackerLatency } = await db.query<{ p50: number; p99: number }>(
      `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) AS p99
       FROM (SELECT (extract(epoch FROM updated_at - completed_at) * 1000)::int AS ms FROM ${trackerSchema}.erasures) AS x`,
    );

    // Raw rates of the same stores, same amount of work.
    const raw: Record<SinkName, number> = { redis: 0, elasticsearch: 0, bigquery: 0, compacted: 0 };
    const [host, port] = [new URL(e.redisUrl).hostname, new URL(e.redisUrl).port];
    const rb = await exec('redis-benchmark', ['-h', host, '-p', port, '-q', '-n', String(n), '-P', '64', '-r', String(n), 'UNLINK', `${run}:raw:__rand_int__`]);
    raw.redis = Number(/([\d.]+) requests per second/.exec(rb.stdout)?.[1] ?? 0);
    let t = Date.now();
    await es.bulk({ operations: ids.map((id) => ({ delete: { _index: `${dash}-raw`, _id: id } })) });
    await es.indices.refresh({ index: `${dash}-raw` });
    raw.elasticsearch = n / ((Date.now() - t) / 1000);
    t = Date.now();
    await bq.query({ query: `DELETE FROM \`${e.bigqueryProjectId}.${run}.raw\` WHERE user_id IN UNNEST(@ids)`, params: { ids } });
    raw.bigquery = n / ((Date.now() - t) / 1000);
    t = Date.now();
    await producer.send({ topic: topics.profiles, acks: -1, messages: ids.map((id) => ({ key: `raw-${id}`, value: null })) });
    raw.compacted = n / ((Date.now() - t) / 1000);
    await producer.disconnect();

    const results = Object.fromEntries(
      sinks.map((s) => {
        const latencies = acks
          .filter((a) => a.sink === s && commitTimes.has(a.eventId))
          // A sink started after the burst counts from its start, not from a commit it could not see.
          .map((a) => a.at - Math.max(commitTimes.get(a.eventId)!, started.get(s)!))
          .sort((a, b) => a - b);
        // The sink's own ack times, not when this process's collector saw them (it can lag).
        const lastAck = Math.max(...acks.filter((a) => a.sink === s).map((a) => a.at));
        const rate = n / ((lastAck - started.get(s)!) / 1000);
        return [s, {
          erasuresPerSecond: Math.round(rate),
          commitToAckMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
          rawPerSecond: Math.round(raw[s]),
          ratio: Number((rate / raw[s]).toFixed(3)),
        }];
      }),
    );
    const tracker = { lastAckToCompleteMs: { p50: trackerLatency[0]!.p50, p99: trackerLatency[0]!.p99 } };
    publishDelays.sort((a, b) => a - b);
    const reader = { commitToPublishMs: { p50: percentile(publishDelays, 50), p99: percentile(publishDelays, 99) } };
    const result = { benchmark: 'sinks', at: new Date().toISOString(), subjects: n, burstMs, reader, sinks: results, tracker };
    mkdirSync(resolve(process.cwd(), 'bench-results'), { recursive: true });
    writeFileSync(resolve(process.cwd(), 'bench-results/sinks.json'), `${JSON.stringify(result, null, 2)}\n`);
    log(`${'cdc reader'.padEnd(14)} commit-to-publish p50 ${reader.commitToPublishMs.p50} ms p99 ${reader.commitToPublishMs.p99} ms (while the sinks run in the same process)`);
    for (const [s, r] of Object.entries(results)) {
      log(`${s.padEnd(14)} ${String(r.erasuresPerSecond).padStart(6)} erasures/s, commit-to-ack p50 ${r.commitToAckMs.p50} ms p99 ${r.commitToAckMs.p99} ms; raw ${r.rawPerSecond}/s; ratio ${r.ratio}`);
    }
    log(`${'tracker'.padEnd(14)} every erasure complete; from its last ack to its status stored complete p50 ${tracker.lastAckToCompleteMs.p50} ms p99 ${tracker.lastAckToCompleteMs.p99} ms`);
    log('written to bench-results/sinks.json');
  } finally {
    controller.abort();
    await Promise.allSettled(running);
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [`${run}_slot`]).catch(() => undefined);
    await db.query(`DROP PUBLICATION IF EXISTS ${run}_pub`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS ${run} CASCADE`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`).catch(() => undefined);
    await admin.deleteTopics({ topics: [...Object.values(topics), ...sinkTopics] }).catch(() => undefined);
    for (const topic of [topics.erasures, topics.acks, topics.status]) await deleteValueSubject(e.schemaRegistryUrl, topic).catch(() => undefined);
    await es.indices.delete({ index: `${dash}-*`, ignore_unavailable: true }).catch(() => undefined);
    await bq.dataset(run).delete({ force: true }).catch(() => undefined);
    const keys = await redis.keys(`${run}:*`);
    for (let i = 0; i < keys.length; i += 1000) await redis.unlink(...keys.slice(i, i + 1000));
    redis.disconnect();
    await es.close();
    await admin.disconnect();
    await db.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
