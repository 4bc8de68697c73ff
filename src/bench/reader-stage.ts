import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { deleteValueSubject } from '../events/event-codec.js';
import type { Endpoints } from '../stack/endpoints.js';
import { LetheChild, log, slotPast, within, writeCatalog, type Memory } from './bench-kit.js';

/**
 * The reader's rows of `make bench`: a backlog of single-subject delete transactions decoded by
 * pg_recvlogical (pgoutput into /dev/null, through a second slot created at the same point) and
 * read by `lethe run --only cdc` as a child process (published to Kafka acks=all, slot
 * confirmed), whose peak RSS is the first memory row; then one transaction deleting many
 * subjects, read by another such child, whose peak RSS is the second. Each child is stopped at a
 * deadline or past a memory cap, and the row says so instead of hanging.
 */
const execFileAsync = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface ReaderResult {
  subjects: number;
  backlogWriteSeconds: number;
  pgRecvlogical: { seconds: number; perSecond: number };
  lethe: { seconds: number; perSecond: number; published: number; completed: boolean; memory: Memory };
}

export interface TransactionResult {
  subjects: number;
  deleteSeconds: number;
  lethe: { seconds: number; completed: boolean; published: number; memory: Memory; stoppedBecause?: string };
}

interface Ctx {
  db: pg.Client;
  admin: Admin;
  e: Endpoints;
  run: string;
  dir: string;
  timeoutMs: number;
  capMiB: number;
}

const published = async (admin: Admin, topic: string) =>
  (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);

function cdcCatalog(ctx: Ctx, publication: string, slot: string, topic: string, table: string) {
  return {
    source: { url: ctx.e.databaseUrl, publication, slot, heartbeatIntervalMs: 1000 },
    kafka: { brokers: ctx.e.kafkaBrokers, schemaRegistry: ctx.e.schemaRegistryUrl, topics: { erasures: topic, acks: `${topic}.acks`, status: `${topic}.status` } },
    subjects: { user: { table, key: 'id' } },
  };
}

/**
 * Runs `lethe run --only cdc` until the slot is past `endLsn`, the deadline passes, or its RSS
 * passes the cap; returns what happened.
 */
async function readThrough(ctx: Ctx, name: string, catalog: object, slot: string, endLsn: string) {
  const child = new LetheChild(writeCatalog(ctx.dir, name, catalog), 'cdc', `${ctx.dir}/${name}.log`);
  let stoppedBecause: string | undefined;
  const completed = await within(ctx.timeoutMs, async () => {
    if (!child.running) stoppedBecause = `lethe run exited (see ${child.logPath})`;
    else if (child.memory().peakMiB > ctx.capMiB) stoppedBecause = `RSS passed the cap of ${ctx.capMiB} MiB`;
    return stoppedBecause !== undefined || (await slotPast(ctx.db, slot, endLsn));
  });
  const seconds = (Date.now() - child.started) / 1000;
  const memory = await child.stop();
  if (!completed) stoppedBecause = `not confirmed within ${ctx.timeoutMs / 1000} s`;
  return { seconds, memory, completed: completed && stoppedBecause === undefined, stoppedBecause };
}

export async function readerStage(ctx: Ctx, subjects: number): Promise<ReaderResult> {
  const schema = `${ctx.run}_rd`;
  const [publication, slotLethe, slotRaw, topic] = [`${schema}_pub`, `${schema}_lethe`, `${schema}_raw`, `lethe.bench.${ctx.run}.reader`];
  const { db } = ctx;
  try {
    log(`reader: ${subjects} subjects, each deleted in its own transaction`);
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.subjects (id bigint PRIMARY KEY, email text NOT NULL)`);
    await db.query(`INSERT INTO ${schema}.subjects SELECT g, 'user' || g || '@bench.example' FROM generate_series(1, $1) g`, [subjects]);
    await db.query(`CREATE PUBLICATION ${publication} FOR TABLE ${schema}.subjects`);
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotLethe]);
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotRaw]);
    await ctx.admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
    await db.query(`CREATE PROCEDURE ${schema}.erase_all() LANGUAGE plpgsql AS $$
      DECLARE r bigint; BEGIN FOR r IN SELECT id FROM ${schema}.subjects ORDER BY id LOOP DELETE FROM ${schema}.subjects WHERE id = r; COMMIT; END LOOP; END $$`);
    let started = Date.now();
    await db.query(`CALL ${schema}.erase_all()`);
    const backlogWriteSeconds = (Date.now() - started) / 1000;
    const endLsn = (await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
    log(`reader: backlog written in ${backlogWriteSeconds.toFixed(1)} s; pg_recvlogical decoding it`);

    started = Date.now();
    await execFileAsync(`${PG_BIN}/pg_recvlogical`, [
      '-d', ctx.e.databaseUrl, '--slot', slotRaw, '--start', '--no-loop', '-f', '/dev/null',
      '-o', 'proto_version=1', '-o', `publication_names=${publication}`, `--endpos=${endLsn}`,
    ], { timeout: ctx.timeoutMs });
    const rawSeconds = (Date.now() - started) / 1000;
    log(`reader: pg_recvlogical ${rawSeconds.toFixed(1)} s; lethe run --only cdc reading it`);

    const read = await readThrough(ctx, 'reader', cdcCatalog(ctx, publication, slotLethe, topic, `${schema}.subjects`), slotLethe, endLsn);
    const count = await published(ctx.admin, topic);
    log(`reader: lethe ${read.seconds.toFixed(1)} s, ${count} events published, peak RSS ${read.memory.peakMiB} MiB${read.stoppedBecause ? ` (${read.stoppedBecause})` : ''}`);
    return {
      subjects,
      backlogWriteSeconds,
      pgRecvlogical: { seconds: rawSeconds, perSecond: Math.round(subjects / rawSeconds) },
      lethe: { seconds: read.seconds, perSecond: Math.round(count / read.seconds), published: count, completed: read.completed, memory: read.memory },
    };
  } finally {
    await dropAll(ctx, schema, publication, [slotLethe, slotRaw], topic);
  }
}

export async function transactionStage(ctx: Ctx, subjects: number): Promise<TransactionResult> {
  const schema = `${ctx.run}_tx`;
  const [publication, slot, topic] = [`${schema}_pub`, `${schema}_lethe`, `lethe.bench.${ctx.run}.transaction`];
  const { db } = ctx;
  try {
    log(`one transaction deleting ${subjects} subjects`);
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.subjects (id bigint PRIMARY KEY, email text NOT NULL)`);
    await db.query(`INSERT INTO ${schema}.subjects SELECT g, 'user' || g || '@bench.example' FROM generate_series(1, $1) g`, [subjects]);
    await db.query(`CREATE PUBLICATION ${publication} FOR TABLE ${schema}.subjects`);
    // Created after the rows: the slot decodes the delete only, not the inserts.
    await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    await ctx.admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
    const started = Date.now();
    await db.query(`DELETE FROM ${schema}.subjects`);
    const deleteSeconds = (Date.now() - started) / 1000;
    const endLsn = (await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
    const read = await readThrough(ctx, 'transaction', cdcCatalog(ctx, publication, slot, topic, `${schema}.subjects`), slot, endLsn);
    const count = await published(ctx.admin, topic);
    log(`transaction: lethe ${read.seconds.toFixed(1)} s, ${count} events published, peak RSS ${read.memory.peakMiB} MiB${read.stoppedBecause ? ` (${read.stoppedBecause})` : ''}`);
    return { subjects, deleteSeconds, lethe: { seconds: read.seconds, completed: read.completed, published: count, memory: read.memory, ...(read.stoppedBecause ? { stoppedBecause: read.stoppedBecause } : {}) } };
  } finally {
    await dropAll(ctx, schema, publication, [slot], topic);
  }
}

async function dropAll(ctx: Ctx, schema: string, publication: string, slots: string[], topic: string): Promise<void> {
  for (const slot of slots) {
    await ctx.db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]).catch(() => undefined);
  }
  await ctx.db.query(`DROP PUBLICATION IF EXISTS ${publication}`).catch(() => undefined);
  await ctx.db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await ctx.admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await deleteValueSubject(ctx.e.schemaRegistryUrl, topic).catch(() => undefined);
}

export type StageContext = Ctx;
