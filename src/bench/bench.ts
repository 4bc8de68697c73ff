import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { missingVariables, resolveEndpoints } from '../stack/endpoints.js';
import { AckWatch } from './ack-watch.js';
import { latencyPng } from './bench-chart.js';
import { log, size, writeCatalog } from './bench-kit.js';
import { format, rows, type TableInput } from './bench-table.js';
import { bigqueryStage } from './bigquery-stage.js';
import { endToEnd } from './e2e-stage.js';
import { readerStage, transactionStage } from './reader-stage.js';
import { Shop } from './shop-fixture.js';
import { publishBacklog, sinkRow, type BenchSink, type SinkContext } from './sink-stage.js';

/**
 * `make bench`: every stage of Lethe beside a reference doing the same work on the same data in
 * the same run, each run on its own; prints one table (stage | Lethe | reference | ratio | goal
 * | met?), writes bench-results/bench-<time>.json and latest.json, and draws the paced run's
 * commit->ack latency in bench-results/latency-<time>.png (and latency-latest.png). Sizes by
 * environment: BENCH_READER_SUBJECTS, BENCH_TRANSACTION_SUBJECTS (1,000,000 each),
 * BENCH_SINK_SUBJECTS (10,000), BENCH_E2E_SUBJECTS (10,000), BENCH_LATENCY_SECONDS (30),
 * BENCH_BIGQUERY_SUBJECTS (500), BENCH_STAGE_TIMEOUT_S (300: a stage not done by then is
 * reported as such), BENCH_MEMORY_CAP_MIB (2,048: a reader child past it is stopped),
 * BENCH_STAGES (reader,transaction,sinks,e2e,bigquery), BENCH_HEAP_MIB (a V8 heap limit for the
 * children; none by default), BENCH_CPU_PROF=1 (a CPU profile of each child beside its log). A stage that fails is reported and the
 * others still run; the exit code is then 1.
 */
const ALL_STAGES = ['reader', 'transaction', 'sinks', 'e2e', 'bigquery'];

async function main(): Promise<void> {
  const missing = missingVariables(process.env);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run through \`make bench\` (it starts the stack)`);
  const e = resolveEndpoints(process.env);
  const sizes = {
    reader: size('BENCH_READER_SUBJECTS', 1_000_000),
    transaction: size('BENCH_TRANSACTION_SUBJECTS', 1_000_000),
    sinks: size('BENCH_SINK_SUBJECTS', 10_000),
    e2e: size('BENCH_E2E_SUBJECTS', 10_000),
    latencySeconds: size('BENCH_LATENCY_SECONDS', 30),
    bigquery: size('BENCH_BIGQUERY_SUBJECTS', 500),
    timeoutMs: size('BENCH_STAGE_TIMEOUT_S', 300) * 1000,
    capMiB: size('BENCH_MEMORY_CAP_MIB', 2048),
  };
  const stages = new Set((process.env.BENCH_STAGES ?? ALL_STAGES.join(',')).split(',').map((s) => s.trim()));
  const run = `bench_${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), `lethe-${run}-`));
  log(`run ${run}; catalogs and lethe run logs in ${dir}`);
  const started = Date.now();
  const db = new pg.Client({ connectionString: e.databaseUrl });
  await db.connect();
  const kafka = createKafka({ brokers: e.kafkaBrokers, clientId: 'lethe-bench', logger: createLogger({ level: 'error' }) });
  const admin = kafka.admin();
  await admin.connect();
  const ctx = { db, admin, e, run, dir, timeoutMs: sizes.timeoutMs, capMiB: sizes.capMiB };
  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const table: TableInput = { sinks: {}, memory: {} };
  const attempt = async (name: string, body: () => Promise<void>) => {
    if (!stages.has(name)) return;
    const t = Date.now();
    try {
      await body();
    } catch (error) {
      errors[name] = error instanceof Error ? error.message : String(error);
      log(`${name} failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
    log(`${name}: ${((Date.now() - t) / 1000).toFixed(0)} s`);
  };

  await attempt('reader', async () => {
    const r = await readerStage(ctx, sizes.reader);
    results.reader = r;
    table.reader = { lethe: r.lethe.completed ? r.lethe.perSecond : Number.NaN, reference: r.pgRecvlogical.perSecond };
    table.memory.backlog = { mib: r.lethe.memory.peakMiB, subjects: r.subjects, ...(r.lethe.completed ? {} : { note: 'not completed' }) };
  });
  await attempt('transaction', async () => {
    const r = await transactionStage(ctx, sizes.transaction);
    results.transaction = r;
    table.memory.transaction = { mib: r.lethe.memory.peakMiB, subjects: r.subjects, ...(r.lethe.stoppedBecause ? { note: r.lethe.stoppedBecause } : {}) };
  });

  let png: Buffer | undefined;
  const shopStages = ['sinks', 'e2e', 'bigquery'].filter((s) => stages.has(s));
  if (shopStages.length > 0) {
    const shop = new Shop(e, run, db, kafka, admin);
    const watch = new AckWatch(kafka, e.schemaRegistryUrl, run);
    try {
      await shop.create();
      await watch.start(shop.topics);
      const sinkCtx: SinkContext = { admin, shop, watch, catalogPath: writeCatalog(dir, 'shop', shop.catalog()), dir, timeoutMs: sizes.timeoutMs };
      let backlog = false;
      await attempt('sinks', async () => {
        await publishBacklog(sinkCtx, sizes.sinks);
        backlog = true;
        const sinks: Record<string, unknown> = {};
        for (const sink of ['redis', 'elasticsearch', 'compacted'] as BenchSink[]) {
          const row = await sinkRow(sinkCtx, sink, sizes.sinks);
          sinks[sink] = row;
          table.sinks[sink] = { lethe: row.lethe.completed ? row.lethe.perSecond : Number.NaN, reference: row.reference.perSecond };
        }
        results.sinks = { subjects: sizes.sinks, ...sinks };
      });
      await attempt('e2e', async () => {
        const r = await endToEnd(sinkCtx, sizes.sinks + 1, sizes.e2e, sizes.latencySeconds);
        const { points, ...rest } = r;
        results.endToEnd = rest;
        table.endToEnd = { perSecond: r.burst.completed ? r.burst.perSecond : Number.NaN };
        table.latency = { p50: r.latency.p50, p99: r.latency.p99, atPerSecond: r.latency.achievedPerSecond };
        png = await latencyPng(points, `Lethe commit -> ack, ${r.latency.erasures} erasures paced at ${r.latency.achievedPerSecond}/s (${run})`);
      });
      await attempt('bigquery', async () => {
        if (!backlog) throw new Error('needs the sinks stage backlog (BENCH_STAGES with sinks)');
        const r = await bigqueryStage(sinkCtx, sizes.sinks, Math.min(sizes.bigquery, sizes.sinks));
        results.bigquery = r;
        table.bigquery = { perSecond: r.perSecond, dmlPerErasure: r.dmlPerErasure };
      });
    } finally {
      await watch.stop();
      await shop.drop();
    }
  }
  await admin.disconnect();
  await db.end();

  const printed = format(rows(table));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = resolve(process.cwd(), 'bench-results');
  mkdirSync(out, { recursive: true });
  const json = { benchmark: 'lethe', at: new Date().toISOString(), run, seconds: Math.round((Date.now() - started) / 1000), sizes, machine: { cpus: cpus().length, node: process.version }, table: rows(table), results, errors };
  for (const name of [`bench-${stamp}.json`, 'latest.json']) writeFileSync(resolve(out, name), `${JSON.stringify(json, null, 2)}\n`);
  if (png) for (const name of [`latency-${stamp}.png`, 'latency-latest.png']) writeFileSync(resolve(out, name), png);
  process.stdout.write(`\n${printed}\n\n`);
  log(`${json.seconds} s; written to bench-results/bench-${stamp}.json (and latest.json)${png ? `, latency chart bench-results/latency-${stamp}.png` : ''}`);
  if (Object.keys(errors).length > 0) {
    log(`stages failed: ${Object.entries(errors).map(([s, m]) => `${s}: ${m}`).join('; ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
