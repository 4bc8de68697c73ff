import pg from 'pg';
import { InvariantError, LetheError, ServiceUnavailableError } from '../errors.js';
import { holdsSchemaSql } from '../holds/hold-store.js';
import { schemaLockSql } from './schema-lock.js';
import { inTransaction } from './pg-transaction.js';
import { requestSchemaSql } from '../requests/request-store.js';
import {
  foldErasure,
  mergePartFacts,
  nextChangeAt,
  type AckRecord,
  type Confirmation,
  type ErasureFacts,
  type ErasureState,
  type ErasureStatus,
  type ExpectedTarget,
} from './erasure-status.js';

/** The tracker's tables, in its own schema. Idempotent: `lethe init` and the tracker both run it. */
export function trackerSchemaSql(schema: string): string {
  const s = pg.escapeIdentifier(schema);
  // One statement list, one implicit transaction: the lock serializes the tracker, the request
  // worker and the sinks creating the same tables at once (concurrent CREATE … IF NOT EXISTS can
  // otherwise deadlock or collide on the catalog's unique index).
  return `${schemaLockSql(schema)}
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.erasures (
  event_id text PRIMARY KEY,
  subject_type text NOT NULL,
  subject_id text NOT NULL,
  facts jsonb,
  expected jsonb,
  status text NOT NULL,
  commit_time timestamptz,
  due_at timestamptz,
  completed_at timestamptz,
  state jsonb NOT NULL,
  published boolean NOT NULL DEFAULT false,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS erasures_subject ON ${s}.erasures (subject_type, subject_id);
-- The sweep once selected open erasures by due_at; refold_at (below) replaced it.
DROP INDEX IF EXISTS ${s}.erasures_open;
CREATE INDEX IF NOT EXISTS erasures_unpublished ON ${s}.erasures (event_id) WHERE NOT published;
-- When the folded status next changes by time alone (its SLA due, a backup expiring); the sweep
-- refolds what is past it. Rows from before this column are refolded once.
ALTER TABLE ${s}.erasures ADD COLUMN IF NOT EXISTS refold_at timestamptz;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = ${pg.escapeLiteral(schema)} AND indexname = 'erasures_refold') THEN
    UPDATE ${s}.erasures SET refold_at = now() WHERE state <> '{}';
    CREATE INDEX IF NOT EXISTS erasures_refold ON ${s}.erasures (refold_at) WHERE refold_at IS NOT NULL;
  END IF;
END $$;
-- A folded state is rewritten at every ack (about 7 KB of JSON for three sinks' targets):
-- lz4 compresses it several times faster than the default pglz, where the server has lz4
-- (PostgreSQL 14 on, built with it); elsewhere the default stays.
-- (EXECUTE: older servers would refuse the statement's syntax when the block is compiled.)
DO $$ BEGIN
  IF current_setting('server_version_num')::int >= 140000
     AND EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    IF (SELECT attcompression FROM pg_attribute WHERE attrelid = ${pg.escapeLiteral(`${s}.erasures`)}::regclass AND attname = 'state') <> 'l' THEN
      EXECUTE ${pg.escapeLiteral(`ALTER TABLE ${s}.erasures ALTER COLUMN state SET COMPRESSION lz4`)};
    END IF;
  END IF;
END $$;
CREATE TABLE IF NOT EXISTS ${s}.erasure_parts (
  event_id text NOT NULL,
  part integer NOT NULL,
  facts jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, part)
);
CREATE TABLE IF NOT EXISTS ${s}.acks (
  source text PRIMARY KEY,
  event_id text NOT NULL,
  ack jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS acks_event ON ${s}.acks (event_id);
CREATE TABLE IF NOT EXISTS ${s}.confirmations (
  event_id text NOT NULL,
  system text NOT NULL,
  confirmed_by text NOT NULL,
  note text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (event_id, system)
);
-- Who was authenticated (token:<name>, cli:<OS user>); added later, so null on older rows.
ALTER TABLE ${s}.confirmations ADD COLUMN IF NOT EXISTS confirmed_via text;
${holdsSchemaSql(schema)}
${requestSchemaSql(schema)}`;
}

export interface StoredAck extends AckRecord {
  /** Where the ack was read: topic/partition/offset. A redelivered ack is stored once. */
  source: string;
}

export interface ErasureFilter {
  status?: ErasureState[];
  subjectType?: string;
  subjectId?: string;
  since?: number;
  until?: number;
  limit?: number;
}

/** What changed when acks and events were recorded: the refolded statuses that differ. */
export interface RecordResult {
  changed: ErasureStatus[];
  /** Acks seen for the first time, with the erasure's commit time when known (for latency). */
  newAcks: Array<{ ack: AckRecord; commitTime: number | null }>;
}

/**
 * Postgres-backed status of every erasure: the facts of each event, every ack as read, manual
 * confirmations, and the folded status. A refold locks the erasure's row, so the consumer, the
 * SLA sweep and a confirmation from the CLI never overwrite each other's newer state.
 */
export class StatusStore {
  readonly pool: pg.Pool;
  private readonly s: string;

  constructor(
    url: string,
    private readonly schema: string,
    private readonly expectedFor: (subjectType: string) => ExpectedTarget[],
    private readonly slaMs: number,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
    this.pool.on('error', () => undefined); // an idle client's error surfaces on the next query
    this.s = pg.escapeIdentifier(schema);
  }

  async ensureSchema(): Promise<void> {
    try {
      await this.pool.query(trackerSchemaSql(this.schema));
    } catch (error) {
      const translated = translatePg(error);
      throw translated instanceof ServiceUnavailableError ? new ServiceUnavailableError('postgres', `creating the tracker's tables: ${(error as Error).message}`, { cause: error }) : translated;
    }
  }

  /**
   * For a command that only reads or confirms: fails naming the tracker's database when it cannot
   * be reached, and naming the schema when its tables are missing (before `lethe init`).
   */
  async assertReady(): Promise<void> {
    let ready: boolean;
    try {
      const { rows } = await this.pool.query<{ ready: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ready', [`${this.s}.erasures`]);
      ready = rows[0]?.ready === true;
    } catch (error) {
      throw new ServiceUnavailableError('postgres', `cannot connect to tracker.database: ${(error as Error).message}`, { cause: error });
    }
    if (!ready) {
      throw new LetheError('TRACKER_NOT_INITIALIZED', `tracker.database has no tracker tables in schema ${this.schema}: run \`lethe init\` (or start the tracker with \`lethe run\`) first`);
    }
  }

  /** Records erasure events and acks, refolds every erasure they touch, in one transaction. */
  async record(facts: ErasureFacts[], acks: StoredAck[], now = Date.now()): Promise<RecordResult> {
    return this.transaction(async (db) => {
      // Set-based: one statement per kind of row, whatever the batch size. A redelivered event can
      // sit twice in one batch; one statement may not upsert a row twice. Each part of an erasure
      // sent in parts is kept by its number; the erasure's facts are merged from them at refold.
      facts = [...new Map(facts.map((f) => [`${f.eventId}\u0000${f.part ?? 1}`, f])).values()];
      if (facts.length > 0) {
        await db.query(
          `INSERT INTO ${this.s}.erasure_parts (event_id, part, facts)
           SELECT f->>'eventId', coalesce((f->>'part')::int, 1), f FROM jsonb_array_elements($1::jsonb) AS x(f)
           ON CONFLICT DO NOTHING`,
          [JSON.stringify(facts)],
        );
        // The expected targets are fixed when the first part is seen; the placeholder an ack read
        // first made has none yet.
        await db.query(
          `INSERT INTO ${this.s}.erasures (event_id, subject_type, subject_id, expected, status, commit_time, state)
           SELECT DISTINCT ON (f->>'eventId') f->>'eventId', f->>'subjectType', f->>'subjectId', e, 'pending', to_timestamp((f->>'commitTime')::bigint / 1000.0), '{}'
           FROM jsonb_to_recordset($1::jsonb) AS x(f jsonb, e jsonb)
           ON CONFLICT (event_id) DO UPDATE SET expected = EXCLUDED.expected, commit_time = EXCLUDED.commit_time
           WHERE ${this.s}.erasures.expected IS NULL AND ${this.s}.erasures.facts IS NULL`,
          [JSON.stringify(facts.map((f) => ({ f, e: this.expectedFor(f.subjectType) })))],
        );
      }
      const newAcks: RecordResult['newAcks'] = [];
      if (acks.length > 0) {
        // An ack read before its erasure event gets a placeholder row the event fills in later.
        await db.query(
          `INSERT INTO ${this.s}.erasures (event_id, subject_type, subject_id, status, state)
           SELECT DISTINCT ON (id) id, t, s, 'pending', '{}' FROM unnest($1::text[], $2::text[], $3::text[]) AS x(id, t, s)
           ON CONFLICT DO NOTHING`,
          [acks.map((a) => a.eventId), acks.map((a) => a.subjectType), acks.map((a) => a.subjectId)],
        );
        const records = acks.map(({ source: _source, ...ack }) => ack);
        const inserted = await db.query<{ source: string }>(
          `INSERT INTO ${this.s}.acks (source, event_id, ack) SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(source text, event_id text, ack jsonb) ON CONFLICT DO NOTHING RETURNING source`,
          [JSON.stringify(acks.map((a, i) => ({ source: a.source, event_id: a.eventId, ack: records[i] })))],
        );
        const fresh = new Set(inserted.rows.map((r) => r.source));
        acks.forEach((a, i) => {
          if (fresh.has(a.source)) newAcks.push({ ack: records[i]!, commitTime: null });
        });
      }
      const ids = [...new Set([...facts.map((f) => f.eventId), ...acks.map((a) => a.eventId)])];
      const changed = await this.refoldIn(db, ids, now);
      const commitTimes = await db.query<{ event_id: string; ms: string | null }>(
        `SELECT event_id, (extract(epoch FROM commit_time) * 1000)::bigint AS ms FROM ${this.s}.erasures WHERE event_id = ANY($1)`,
        [newAcks.map((n) => n.ack.eventId)],
      );
      const byId = new Map(commitTimes.rows.map((r) => [r.event_id, r.ms === null ? null : Number(r.ms)]));
      for (const n of newAcks) n.commitTime = byId.get(n.ack.eventId) ?? null;
      return { changed, newAcks };
    });
  }

  /** Records a manual system's confirmation and refolds. The first confirmation is the record. */
  async confirm(c: Confirmation, now = Date.now()): Promise<{ status: ErasureStatus; created: boolean }> {
    return this.transaction(async (db) => {
      const current = await this.get(c.eventId, db);
      if (!current) throw new LetheError('NOT_FOUND', `no erasure ${c.eventId}`);
      const target = current.targets.find((t) => t.kind === 'manual' && t.target === c.system);
      if (!target) {
        const manual = current.targets.filter((t) => t.kind === 'manual').map((t) => t.target);
        throw new LetheError('NOT_A_MANUAL_SYSTEM', `erasure ${c.eventId} has no manual system ${c.system} (its manual systems: ${manual.join(', ') || 'none'})`);
      }
      const inserted = await db.query(
        `INSERT INTO ${this.s}.confirmations (event_id, system, confirmed_by, confirmed_via, note, at) VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0)) ON CONFLICT DO NOTHING`,
        [c.eventId, c.system, c.by, c.via ?? null, c.note, c.at],
      );
      await this.refoldIn(db, [c.eventId], now);
      return { status: (await this.get(c.eventId, db))!, created: inserted.rowCount === 1 };
    });
  }

  /**
   * Refolds erasures whose status changes with time alone (overdue at its SLA, a backup that
   * expires, complete erasures included) once that time has come; returns those that changed.
   */
  async refoldDue(now = Date.now()): Promise<ErasureStatus[]> {
    const changed: ErasureStatus[] = [];
    for (;;) {
      const due = await this.pool.query<{ event_id: string }>(
        `SELECT event_id FROM ${this.s}.erasures WHERE refold_at <= to_timestamp($1 / 1000.0) ORDER BY refold_at LIMIT 1000`,
        [now],
      );
      if (due.rows.length === 0) return changed;
      changed.push(...(await this.transaction((db) => this.refoldIn(db, due.rows.map((r) => r.event_id), now))));
      if (due.rows.length < 1000) return changed;
    }
  }

  /** Refolds the given erasures from their stored facts, acks and confirmations; returns those that changed. */
  async refold(ids: string[], now = Date.now()): Promise<ErasureStatus[]> {
    return this.transaction((db) => this.refoldIn(db, ids, now));
  }

  private async refoldIn(db: pg.PoolClient, ids: string[], now: number): Promise<ErasureStatus[]> {
    if (ids.length === 0) return [];
    const rows = await db.query<{ event_id: string; subject_type: string; subject_id: string; facts: ErasureFacts | null; expected: ExpectedTarget[] | null }>(
      `SELECT event_id, subject_type, subject_id, facts, expected FROM ${this.s}.erasures WHERE event_id = ANY($1) ORDER BY event_id FOR UPDATE`,
      [ids],
    );
    const acks = await db.query<{ event_id: string; ack: AckRecord }>(`SELECT event_id, ack FROM ${this.s}.acks WHERE event_id = ANY($1)`, [ids]);
    const parts = await db.query<{ event_id: string; facts: ErasureFacts }>(`SELECT event_id, facts FROM ${this.s}.erasure_parts WHERE event_id = ANY($1)`, [ids]);
    const partsOf = groupBy(parts.rows, (p) => p.event_id, (p) => p.facts);
    const confirmations = await db.query<{ event_id: string; system: string; confirmed_by: string; confirmed_via: string | null; note: string; at: Date }>(
      `SELECT event_id, system, confirmed_by, confirmed_via, note, at FROM ${this.s}.confirmations WHERE event_id = ANY($1)`,
      [ids],
    );
    const acksOf = groupBy(acks.rows, (a) => a.event_id, (a) => a.ack);
    const confirmationsOf = groupBy(confirmations.rows, (c) => c.event_id, (c) => c);
    const folded = rows.rows.map((row) =>
      foldErasure({
        // Erasures recorded before parts existed have their facts on the row and no parts.
        facts: partsOf.has(row.event_id) ? mergePartFacts(partsOf.get(row.event_id)!) : row.facts,
        subject: { eventId: row.event_id, subjectType: row.subject_type, subjectId: row.subject_id },
        expected: row.expected ?? [],
        acks: acksOf.get(row.event_id) ?? [],
        confirmations: (confirmationsOf.get(row.event_id) ?? []).map((c) => ({ eventId: c.event_id, system: c.system, by: c.confirmed_by, via: c.confirmed_via, note: c.note, at: c.at.getTime() })),
        slaMs: this.slaMs,
        now,
      }),
    );
    if (folded.length === 0) return [];
    // One statement for the batch; only rows whose folded state differs are marked unpublished,
    // and only those come back as changed. The next time-driven refold is kept on every row, so
    // the sweep never selects a row twice for the same moment.
    const updated = await db.query<{ event_id: string; changed: boolean }>(
      `WITH old AS (SELECT event_id, state, refold_at FROM ${this.s}.erasures WHERE event_id = ANY($1::text[]))
       UPDATE ${this.s}.erasures e SET state = u.state, status = u.status, due_at = to_timestamp(u.due / 1000.0), completed_at = to_timestamp(u.completed / 1000.0),
         facts = coalesce(u.facts, e.facts), refold_at = to_timestamp(u.refold / 1000.0),
         published = CASE WHEN o.state IS DISTINCT FROM u.state THEN false ELSE e.published END,
         updated_at = CASE WHEN o.state IS DISTINCT FROM u.state THEN now() ELSE e.updated_at END
       FROM jsonb_to_recordset($2::jsonb) AS u(id text, state jsonb, status text, due bigint, completed bigint, facts jsonb, refold bigint)
       JOIN old o ON o.event_id = u.id
       WHERE e.event_id = u.id AND (o.state IS DISTINCT FROM u.state OR o.refold_at IS DISTINCT FROM to_timestamp(u.refold / 1000.0))
       RETURNING e.event_id, o.state IS DISTINCT FROM u.state AS changed`,
      // One JSON document rather than arrays of JSON texts, which the client escapes character by
      // character; a key left out or null reads as NULL.
      [
        folded.map((s) => s.eventId),
        JSON.stringify(folded.map((s) => ({ id: s.eventId, state: s, status: s.status, due: s.dueAt, completed: s.completedAt, facts: s.facts ?? undefined, refold: nextChangeAt(s, now) }))),
      ],
    );
    const written = new Set(updated.rows.filter((r) => r.changed).map((r) => r.event_id));
    return folded.filter((s) => written.has(s.eventId));
  }

  async markPublished(statuses: ErasureStatus[]): Promise<void> {
    if (statuses.length === 0) return;
    await this.pool.query(
      `UPDATE ${this.s}.erasures e SET published = true FROM jsonb_to_recordset($1::jsonb) AS p(id text, state jsonb) WHERE e.event_id = p.id AND e.state = p.state`,
      [JSON.stringify(statuses.map((s) => ({ id: s.eventId, state: s })))],
    );
  }

  /** Statuses changed but not yet on the status topic (the tracker stopped in between). */
  async unpublished(limit = 1000): Promise<ErasureStatus[]> {
    const rows = await this.pool.query<{ state: ErasureStatus }>(`SELECT state FROM ${this.s}.erasures WHERE NOT published AND state <> '{}' ORDER BY event_id LIMIT $1`, [limit]);
    return rows.rows.map((r) => r.state);
  }

  async get(eventId: string, db: pg.ClientBase | pg.Pool = this.pool): Promise<ErasureStatus | null> {
    const rows = await db.query<{ state: ErasureStatus }>(`SELECT state FROM ${this.s}.erasures WHERE event_id = $1 AND state <> '{}'`, [eventId]);
    return rows.rows[0]?.state ?? null;
  }

  /** Erasures, most urgent first (overdue, failed, in flight, done), then newest. */
  async list(filter: ErasureFilter = {}): Promise<ErasureStatus[]> {
    const where: string[] = [`state <> '{}'`];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.status?.length) where.push(`status = ANY(${param(filter.status)})`);
    if (filter.subjectType !== undefined) where.push(`subject_type = ${param(filter.subjectType)}`);
    if (filter.subjectId !== undefined) where.push(`subject_id = ${param(filter.subjectId)}`);
    if (filter.since !== undefined) where.push(`coalesce(commit_time, first_seen_at) >= to_timestamp(${param(filter.since)} / 1000.0)`);
    if (filter.until !== undefined) where.push(`coalesce(commit_time, first_seen_at) < to_timestamp(${param(filter.until)} / 1000.0)`);
    const rows = await this.pool.query<{ state: ErasureStatus }>(
      `SELECT state FROM ${this.s}.erasures WHERE ${where.join(' AND ')}
       ORDER BY CASE status WHEN 'overdue' THEN 0 WHEN 'failed' THEN 1 WHEN 'deferred' THEN 2 WHEN 'pending' THEN 3 WHEN 'partial' THEN 4 WHEN 'held' THEN 5 ELSE 6 END,
                coalesce(commit_time, first_seen_at) DESC, event_id
       LIMIT ${param(filter.limit ?? 100)}`,
      params,
    );
    return rows.rows.map((r) => r.state);
  }

  async countByStatus(): Promise<Map<string, number>> {
    const rows = await this.pool.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM ${this.s}.erasures WHERE state <> '{}' GROUP BY status`);
    return new Map(rows.rows.map((r) => [r.status, Number(r.n)]));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private transaction<T>(work: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work, translatePg);
  }
}

/**
 * SQLSTATE classes of a database that cannot serve now: connection exceptions (08), resources
 * (53), operator intervention such as a shutdown or a failover (57), system errors (58), a
 * transaction rolled back for a serialization failure or a deadlock (40), which a retry resolves,
 * a read-only transaction (25006: a demoted primary after a failover) and a lock timeout (55P03).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const UNAVAILABLE_SQLSTATE = /^(08|40|53|57|58)|^25006$|^55P03$/;

/**
 * The tracker's Postgres errors in one place: the database away is a wait; any other SQLSTATE (a
 * constraint, a bad statement) is a bug in the tracker and must not be retried in a loop.
 */
export function translatePg(error: unknown): unknown {
  if (error instanceof LetheError) return error;
  // Only the server's own answers carry a SQLSTATE; a socket error's code (EPIPE) is not one.
  if (error instanceof pg.DatabaseError && error.code !== undefined && !UNAVAILABLE_SQLSTATE.test(error.code)) {
    return new InvariantError(`tracker store: ${error.message} (SQLSTATE ${error.code})`, { cause: error });
  }
  return new ServiceUnavailableError('postgres', `tracker store: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

function groupBy<T, V>(items: readonly T[], key: (item: T) => string, value: (item: T) => V): Map<string, V[]> {
  const out = new Map<string, V[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(value(item));
    else out.set(k, [value(item)]);
  }
  return out;
}
