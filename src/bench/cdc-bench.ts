import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { parseCatalog } from '../catalog/catalog.js';
import { CdcReader } from '../cdc/cdc-reader.js';
import { parseLsn } from '../cdc/lsn.js';
import { findSlot } from '../cdc/source-database.js';
import { deleteValueSubject } from '../events/event-codec.js';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { sleep } from '../retry.js';
import { missingVariables, resolveEndpoints } from '../stack/endpoints.js';

/**
 * `make bench`, first stage: the CDC reader's throughput on a backlog of single-subject delete
 * transactions, beside the raw decode rate of the same backlog by pg_recvlogical (pgoutput into
 * /dev/null) through a second slot created at the same point. Prints both rates and their ratio
 * and writes them to bench-results/cdc-reader.json.
 */
const execFileAsync = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

async function main(): Promise<void> {
  const missing = missingVariables(process.env);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run through \`make bench\` (it starts the stack)`);
  const e = resolveEndpoints(process.env);
  const subjects = Number(process.env.BENCH_SUBJECTS ?? 100_000);
  const run = `bench_${Date.now().toString(36)}`;
  const [schema, publication, slotLethe, slotRaw, topic] = [run, `${run}_pub`, `${run}_lethe`, `${run}_raw`, `lethe.bench.${run}`];
  const db = new pg.Client({ connectionString: e.databaseUrl });
  await db.connect();
  const kafka = createKafka({ brokers: e.kafkaBrokers, clientId: 'lethe-bench', logger: createLogger({ level: 'warn' }) });
  const admin = kafka.admin();
  await admin.connect();
  const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

  try {
    log(`backlog: ${subjects} subjects, each deleted in its own transaction`);
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.subjects (id bigint PRIMARY KEY, email text NOT NULL)`);
    await db.query(`INSERT INTO ${schema}.subjects SELECT g, 'user' || g || '@bench.example' FROM generate_series(1, $1) g`, [subjects]);
    await db.query(`CREATE PUBLICATION ${publication} FOR TABLE ${schema}.subjects`);
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotLethe]);
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotRaw]);
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });

    await db.query(`CREATE PROCEDURE ${schema}.erase_all() LANGUAGE plpgsql AS $$
      DECLARE r bigint;
      BEGIN
        FOR r IN SELECT id FROM ${schema}.subjects ORDER BY id LOOP
          DELETE FROM ${schema}.subjects WHERE id = r;
          COMMIT;
        END LOOP;
      END $$`);
    let started = Date.now();
    await db.query(`CALL ${schema}.erase_all()`);
    const backlogSeconds = (Date.now() - started) / 1000;
    const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    const endLsn = rows[0]!.lsn;
    log(`backlog written in ${backlogSeconds.toFixed(1)} s, up to ${endLsn}`);

    // Raw decode: pg_recvlogical, pgoutput, into /dev/null, stopping at the end of the backlog.
    started = Date.now();
    await execFileAsync(`${PG_BIN}/pg_recvlogical`, [
      '-d', e.databaseUrl, '--slot', slotRaw, '--start', '--no-loop', '-f', '/dev/null',
      '-o', 'proto_version=1', '-o', `publication_names=${publication}`, `--endpos=${endLsn}`,
    ]);
    const rawSeconds = (Date.now() - started) / 1000;
    log(`pg_recvlogical: ${rawSeconds.toFixed(2)} s`);

    // Lethe: from start-up until the slot is confirmed past the backlog, i.e. every event is in Kafka.
    const catalog = parseCatalog(
      JSON.stringify({
        source: { url: e.databaseUrl, publication, slot: slotLethe, heartbeatIntervalMs: 1000 },
        kafka: { brokers: e.kafkaBrokers, schemaRegistry: e.schemaRegistryUrl, topics: { erasures: topic, acks: `${topic}.acks` } },
        subjects: { user: { table: `${schema}.subjects`, key: 'id' } },
      }),
      {},
    );
    const controller = new AbortController();
    const reader = new CdcReader({ catalog, logger: createLogger({ level: 'warn' }) });
    started = Date.now();
    const running = reader.run(controller.signal);
    const target = parseLsn(endLsn);
    for (;;) {
      const slot = await findSlot(db, slotLethe);
      if (slot && parseLsn(slot.confirmedFlushLsn) >= target) break;
      await sleep(50);
    }
    const letheSeconds = (Date.now() - started) / 1000;
    controller.abort();
    await running;
    const offsets = await admin.fetchTopicOffsets(topic);
    const published = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    if (published < subjects) throw new Error(`only ${published} of ${subjects} events were published`);

    const result = {
      benchmark: 'cdc-reader',
      at: new Date().toISOString(),
      subjects,
      transactions: subjects,
      publishedEvents: published,
      pgRecvlogical: { seconds: rawSeconds, transactionsPerSecond: Math.round(subjects / rawSeconds) },
      lethe: { seconds: letheSeconds, eventsPerSecond: Math.round(subjects / letheSeconds) },
      ratio: Number((rawSeconds / letheSeconds).toFixed(3)),
      machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    };
    const dir = resolve(process.cwd(), 'bench-results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(resolve(dir, 'cdc-reader.json'), `${JSON.stringify(result, null, 2)}\n`);
    log(`pg_recvlogical (raw pgoutput decode): ${result.pgRecvlogical.transactionsPerSecond} transactions/s`);
    log(`lethe cdc reader (decode, fold, Avro, Kafka acks=all, slot confirmed): ${result.lethe.eventsPerSecond} events/s`);
    log(`ratio lethe / raw decode: ${result.ratio}  (written to bench-results/cdc-reader.json)`);
  } finally {
    for (const slot of [slotLethe, slotRaw]) {
      await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]).catch(() => undefined);
    }
    await db.query(`DROP PUBLICATION IF EXISTS ${publication}`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await deleteValueSubject(e.schemaRegistryUrl, topic).catch(() => undefined);
    await admin.disconnect();
    await db.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
