import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { parseCatalog } from '../catalog/catalog.js';
import { createKafka } from '../kafka/kafka-client.js';
import { topologyOf } from '../kafka/topology.js';
import { createLogger } from '../logger.js';
import { sleep } from '../retry.js';
import { missingVariables, resolveEndpoints, type Endpoints } from '../stack/endpoints.js';
import { checkStores } from './chaos-check.js';
import { deadLetterOffsets, deadLettersSince, type DeadLetterOffsets } from './chaos-dead-letters.js';
import { ChaosUsageError, parseChaosOptions, type ChaosOptions } from './chaos-options.js';
import { FAULT_KINDS, OUTAGE_SERVICES, planChaos, totalFaults, type ChaosPlan } from './chaos-plan.js';
import { catalogYaml, createShop, dropShop, seedShop, shopNames, type ShopClients, type ShopNames } from './chaos-shop.js';
import { planSubjects, type ChaosSubjects } from './chaos-subjects.js';
import { playTimeline } from './chaos-timeline.js';
import { trackerStatuses, unfinishedTargets, waitForCompletion } from './chaos-tracker.js';
import { passed, problemLines, summaryLine, type ChaosResult } from './chaos-verdict.js';
import { LetheSupervisor } from './lethe-supervisor.js';
import { createPrng, randomSeed } from './prng.js';
import { StackControl } from './stack-control.js';

/**
 * `make chaos` (and `--short` in `make test`): a scratch shop with every store configured, users
 * erased in waves while `lethe run` is SIGKILLed and the stores, Kafka and the registry are
 * stopped and started at random times from a printed seed; then every store is read directly and
 * the tracker's statuses counted. One summary line; exit 0 only when nothing is left, no
 * neighbour touched and every erasure complete. See README.md, "Chaos".
 */
const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
const say = (line: string) => process.stdout.write(`[chaos] ${line}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function describePlan(plan: ChaosPlan, subjects: ChaosSubjects): string {
  const outages = plan.outages.map((o) => `${o.service} ${Math.round(o.durationMs / 1000)} s`).join(', ') || 'none';
  return `plan: ${subjects.erased.length} erased users and ${subjects.neighbours.length} neighbours, ${plan.waves.length} waves over ${Math.round(plan.endsAtMs / 1000)} s; ${plan.kills.length} SIGKILL(s); outages: ${outages}`;
}

async function waitForTracker(port: number, lethe: LetheSupervisor, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/erasures?limit=1`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`lethe run: the tracker did not answer on port ${port} within ${timeoutMs / 1000} s (pid ${lethe.pid ?? 'none'})`);
    await sleep(500);
  }
}

async function lethe(catalogPath: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(process.execPath, ['bin/lethe.js', '-c', catalogPath, ...args], { cwd: ROOT, env: process.env });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`lethe ${args.join(' ')} failed: ${e.stderr || e.message}\n${e.stdout ?? ''}`);
  }
}

interface RunContext {
  options: ChaosOptions;
  seed: number;
  started: number;
  subjects: ChaosSubjects;
  plan: ChaosPlan;
  names: ShopNames;
  work: string;
  catalogPath: string;
  trackerPort: number;
  stack: StackControl;
  kafka: kafkajs.Kafka;
  c: ShopClients;
  supervisor: LetheSupervisor;
  /** The run's dead-letter topic of a sink, under its catalog's namespace. */
  dlqTopicOf: (sink: string) => string;
}

function openClients(e: Endpoints): { kafka: kafkajs.Kafka; c: ShopClients } {
  const kafka = createKafka({ brokers: e.kafkaBrokers, clientId: 'lethe-chaos', logger: createLogger({ level: 'silent' }) });
  const redis = new Redis(e.redisUrl, { lazyConnect: true, maxRetriesPerRequest: null });
  // Redis is stopped during the run: this client reconnects by itself, and its refused connections
  // meanwhile are expected, not worth a line each.
  redis.on('error', () => undefined);
  const c: ShopClients = {
    db: new pg.Client({ connectionString: e.databaseUrl }),
    redis,
    es: new EsClient({ node: e.elasticsearchUrl }),
    bq: createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint }),
    admin: kafka.admin(),
    producer: kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner }),
    projectId: e.bigqueryProjectId,
    registryUrl: e.schemaRegistryUrl,
  };
  return { kafka, c };
}

/** Shop, seed, `lethe init`, `lethe run` started and its tracker answering. */
async function prepare(x: RunContext): Promise<DeadLetterOffsets> {
  await x.c.admin.connect();
  await x.c.producer.connect();
  await createShop(x.names, x.c);
  await seedShop(x.names, x.c, [...x.subjects.erased, ...x.subjects.neighbours]);
  say(`seeded ${x.subjects.erased.length + x.subjects.neighbours.length} users in PostgreSQL, Redis, Elasticsearch, BigQuery and two compacted topics`);
  // The run's own Kafka clients hold no connection through the faults.
  await x.c.producer.disconnect();
  await x.c.admin.disconnect();
  const init = await lethe(x.catalogPath, 'init');
  writeFileSync(join(x.work, 'lethe-init.log'), init);
  say(`lethe init: ${init.trim().split('\n').filter((l) => !l.startsWith(' ')).length} steps (publication, slot, topics, schemas, tracker tables)`);
  const dlqStart = await deadLetterOffsets(x.kafka, x.dlqTopicOf);
  x.supervisor.start();
  await waitForTracker(x.trackerPort, x.supervisor, 60_000);
  say(`lethe run started (pid ${x.supervisor.pid}); the tracker answers on port ${x.trackerPort}`);
  return dlqStart;
}

/** The faults, the wait for the tracker, then every store read directly. */
async function play(x: RunContext, dlqStart: DeadLetterOffsets): Promise<boolean> {
  const { db } = x.c;
  const injected = await playTimeline(x.plan, { db, names: x.names, lethe: x.supervisor, stack: x.stack, say });
  // Whatever an outage left behind (a start that failed for good) is started before the verdict.
  await x.stack.up(...OUTAGE_SERVICES);
  x.supervisor.start();
  say(`last fault over (${totalFaults(injected)} injected); waiting for the tracker`);
  await waitForCompletion(db, x.names, x.subjects.erased, { deadlineMs: x.options.deadlineMs, stallMs: x.options.short ? 90_000 : 180_000, say });
  // A supervisor restarts a process that exits; one that stopped its services and stays alive it cannot see.
  const answers = await fetch(`http://127.0.0.1:${x.trackerPort}/api/erasures?limit=1`).then((r) => r.ok, () => false);
  if (!answers) say(`lethe run (pid ${x.supervisor.pid ?? 'none'}) is alive but its tracker does not answer: it stopped its services without exiting`);
  await x.supervisor.stop();

  await x.c.admin.connect();
  const check = await checkStores(x.names, x.c, x.kafka, x.subjects.erased, x.subjects.neighbours);
  const result: ChaosResult = {
    erasures: x.subjects.erased.length,
    left: check.left,
    touched: check.touched,
    statuses: await trackerStatuses(db, x.names, x.subjects.erased),
    faults: injected,
    seed: x.seed,
    elapsedMs: Date.now() - x.started,
  };
  const ok = passed(result);
  if (!ok) {
    for (const line of problemLines(result, 10)) say(line);
    for (const line of await unfinishedTargets(db, x.names, 10)) say(`tracker: ${line}`);
    for (const line of await deadLettersSince(x.kafka, x.dlqTopicOf, dlqStart)) say(`dead letters: ${line}`);
  }
  const exits = x.supervisor.unexpectedExits;
  if (exits.length > 0) say(`lethe run exited by itself ${exits.length} time(s): ${exits.join(', ')}`);
  process.stdout.write(`${summaryLine(result)}\n`);
  return ok;
}

async function run(options: ChaosOptions, seed: number, started: number): Promise<boolean> {
  const e = resolveEndpoints(process.env);
  const stack = new StackControl(ROOT, process.env);
  await stack.assertSameStack(process.env);
  const rng = createPrng(seed);
  const subjects = planSubjects(options.subjects, rng);
  const plan = planChaos(rng, {
    erased: subjects.erased,
    waves: options.waves,
    faults: options.faults,
    outageMs: options.outageMs,
    gapMs: options.short ? [1000, 4000] : [2000, 8000],
    restartMs: [1000, 5000],
    leadMs: 3000,
  });
  say(describePlan(plan, subjects));

  const names = shopNames(`${Date.now().toString(36)}${rng.int(0, 1295).toString(36)}`);
  const work = mkdtempSync(join(tmpdir(), 'lethe-chaos-'));
  const catalogPath = join(work, 'catalog.yaml');
  const logPath = join(work, 'lethe-run.log');
  const trackerPort = await freePort();
  const yaml = catalogYaml(names, e, trackerPort);
  writeFileSync(catalogPath, yaml);
  const dlqTopicOf = topologyOf(parseCatalog(yaml, process.env)).dlq;
  say(`scratch shop ${names.run}; catalog ${catalogPath}; lethe run log ${logPath}`);

  const { kafka, c } = openClients(e);
  await c.db.connect();
  await c.redis.connect();
  const supervisor = new LetheSupervisor({ root: ROOT, catalogPath, logPath, env: process.env }, say);
  const x: RunContext = { options, seed, started, subjects, plan, names, work, catalogPath, trackerPort, stack, kafka, c, supervisor, dlqTopicOf };
  let ok = false;
  try {
    ok = await play(x, await prepare(x));
    return ok;
  } finally {
    await supervisor.stop();
    if (options.keep) say(`kept the scratch shop ${names.run} (--keep)`);
    else {
      await c.admin.connect().catch(() => undefined);
      await dropShop(names, c, say);
    }
    if (ok && !options.keep) rmSync(work, { recursive: true, force: true });
    else say(`catalog and lethe run log kept in ${work}`);
    await c.admin.disconnect().catch(() => undefined);
    c.redis.disconnect();
    await c.es.close();
    await c.db.end();
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  let options: ChaosOptions;
  try {
    options = parseChaosOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ChaosUsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const missing = missingVariables(process.env);
  if (missing.length > 0) {
    process.stderr.write(`chaos: missing ${missing.join(', ')}: run through \`make chaos\` (or source the stack's env file)\n`);
    return 2;
  }
  const seed = options.seed ?? randomSeed();
  const kinds = FAULT_KINDS.filter((k) => options.faults[k] > 0).map((k) => `${k} ${options.faults[k]}`);
  say(`seed ${seed} (repeat with --seed ${seed}); ${options.short ? 'short' : 'full'} run: ${options.subjects} subjects, faults ${kinds.join(', ') || 'none'}`);
  try {
    return (await run(options, seed, started)) ? 0 : 1;
  } catch (error) {
    process.stderr.write(`chaos: the run itself failed (seed ${seed}): ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

// Run only as the entry point, so that importing the module (scripts/check-built-imports.mjs) starts nothing.
if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) process.exitCode = await main();
