import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { SubjectErased } from '../cdc/erasure-manifest.js';
import { LetheError, ServiceUnavailableError } from '../errors.js';
import { schemaLockSql } from '../tracker/schema-lock.js';

/**
 * Legal holds, kept in the tracker's schema beside the erasure log: who placed a hold on which
 * subject, for which scope, on what basis, until when it is reviewed, and who released it; and
 * the erasure events a sink kept back because of one, until the release sends them on
 * (hold-redelivery.ts). Reads fail closed: a database that cannot answer is a wait
 * (`ServiceUnavailableError`), never "no hold".
 */

/** The holds tables, in the tracker's schema. Idempotent: `lethe init`, the tracker and every sink run it. */
export function holdsSchemaSql(schema: string): string {
  const s = pg.escapeIdentifier(schema);
  return `CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.holds (
  id text PRIMARY KEY,
  subject_type text NOT NULL,
  subject_id text NOT NULL,
  scope text NOT NULL,
  basis text NOT NULL,
  review_at date NOT NULL,
  placed_by text NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now(),
  released_by text,
  released_at timestamptz,
  release_note text
);
CREATE INDEX IF NOT EXISTS holds_active ON ${s}.holds (subject_type, subject_id) WHERE released_at IS NULL;
CREATE TABLE IF NOT EXISTS ${s}.held_events (
  hold_id text NOT NULL,
  sink text NOT NULL,
  event_id text NOT NULL,
  part integer NOT NULL,
  event jsonb NOT NULL,
  held_at timestamptz NOT NULL DEFAULT now(),
  redelivered_at timestamptz,
  PRIMARY KEY (hold_id, sink, event_id, part)
);
CREATE INDEX IF NOT EXISTS held_events_waiting ON ${s}.held_events (hold_id) WHERE redelivered_at IS NULL;`;
}

export interface Hold {
  id: string;
  subjectType: string;
  subjectId: string;
  /** `all`, `table:<schema.table>` or `sink:<name>` (hold-scope.ts). */
  scope: string;
  basis: string;
  /** YYYY-MM-DD. */
  reviewAt: string;
  placedBy: string;
  placedAt: number;
  releasedBy: string | null;
  releasedAt: number | null;
  releaseNote: string | null;
}

export interface HoldPlacement {
  subjectType: string;
  subjectId: string;
  scope: string;
  basis: string;
  reviewAt: string;
  placedBy: string;
}

export interface HoldFilter {
  subjectType?: string;
  subjectId?: string;
  /** Released holds too. */
  includeReleased?: boolean;
}

/** One event (part) a sink kept back because of a hold. */
export interface HeldEvent {
  holdId: string;
  sink: string;
  event: SubjectErased;
}

/** The map key of a subject in `activeFor`'s answer. */
export function subjectKeyOf(subjectType: string, subjectId: string): string {
  return `${subjectType}\u0000${subjectId}`;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `hold_` and 26 random base32 characters (130 bits). */
/** The advisory lock one subject's holds are placed and checked under (hashed by Postgres). */
export function holdLockKey(subjectType: string, subjectId: string): string {
  return `lethe hold ${subjectType}:${subjectId}`;
}

export function newHoldId(): string {
  const bytes = randomBytes(26);
  return `hold_${[...bytes].map((b) => BASE32[b & 31]).join('')}`;
}

interface HoldRow {
  id: string;
  subject_type: string;
  subject_id: string;
  scope: string;
  basis: string;
  review_at: string;
  placed_by: string;
  placed_at: Date;
  released_by: string | null;
  released_at: Date | null;
  release_note: string | null;
}

const COLUMNS = `id, subject_type, subject_id, scope, basis, to_char(review_at, 'YYYY-MM-DD') AS review_at, placed_by, placed_at, released_by, released_at, release_note`;

function holdOf(r: HoldRow): Hold {
  return {
    id: r.id,
    subjectType: r.subject_type,
    subjectId: r.subject_id,
    scope: r.scope,
    basis: r.basis,
    reviewAt: r.review_at,
    placedBy: r.placed_by,
    placedAt: r.placed_at.getTime(),
    releasedBy: r.released_by,
    releasedAt: r.released_at?.getTime() ?? null,
    releaseNote: r.release_note,
  };
}

export class HoldStore {
  private readonly s: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {
    this.s = pg.escapeIdentifier(schema);
  }

  async ensureSchema(): Promise<void> {
    await this.query('creating the holds tables', `${schemaLockSql(this.schema)}\n${holdsSchemaSql(this.schema)}`);
  }

  /**
   * Places a hold under the subject's hold lock (holdLockKey): a request's erasure that re-reads
   * the holds under the same lock inside its transaction either sees this hold or has committed
   * before it is placed.
   */
  async place(p: HoldPlacement): Promise<Hold> {
    const { rows } = await this.query<HoldRow>(
      'placing a hold',
      `INSERT INTO ${this.s}.holds (id, subject_type, subject_id, scope, basis, review_at, placed_by)
       SELECT $1, $2, $3, $4, $5, $6::date, $7 FROM (SELECT pg_advisory_xact_lock(hashtext($8))) AS subject_lock
       RETURNING ${COLUMNS}`,
      [newHoldId(), p.subjectType, p.subjectId, p.scope, p.basis, p.reviewAt, p.placedBy, holdLockKey(p.subjectType, p.subjectId)],
    );
    return holdOf(rows[0]!);
  }

  /** Releases a hold once; `released` is false when it already was (the first release is the record). */
  async release(id: string, by: string, note: string | null): Promise<{ hold: Hold; released: boolean }> {
    const { rows } = await this.query<HoldRow>(
      'releasing a hold',
      `UPDATE ${this.s}.holds SET released_by = $2, released_at = now(), release_note = $3 WHERE id = $1 AND released_at IS NULL RETURNING ${COLUMNS}`,
      [id, by, note],
    );
    if (rows[0]) return { hold: holdOf(rows[0]), released: true };
    const existing = await this.query<HoldRow>('reading a hold', `SELECT ${COLUMNS} FROM ${this.s}.holds WHERE id = $1`, [id]);
    if (!existing.rows[0]) throw new LetheError('NOT_FOUND', `no hold ${id}`);
    return { hold: holdOf(existing.rows[0]), released: false };
  }

  /**
   * A subject's active holds, read inside the caller's transaction (a request's erasure, when the
   * holds live in the primary's database): under the subject's hold lock, so a hold placed now
   * waits for that transaction's commit, and locked against a release until then.
   */
  async activeInTransaction(db: pg.ClientBase, subjectType: string, subjectId: string): Promise<Hold[]> {
    try {
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [holdLockKey(subjectType, subjectId)]);
      const { rows } = await db.query<HoldRow>(
        `SELECT ${COLUMNS} FROM ${this.s}.holds WHERE subject_type = $1 AND subject_id = $2 AND released_at IS NULL ORDER BY placed_at, id FOR SHARE`,
        [subjectType, subjectId],
      );
      return rows.map(holdOf);
    } catch (error) {
      throw new ServiceUnavailableError('postgres', `reading legal holds in schema ${this.schema}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /** Which of these holds have been released. */
  async releasedOf(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.query<{ id: string }>('reading released holds', `SELECT id FROM ${this.s}.holds WHERE id = ANY($1) AND released_at IS NOT NULL`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  async list(filter: HoldFilter = {}): Promise<Hold[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (!filter.includeReleased) where.push('released_at IS NULL');
    if (filter.subjectType !== undefined) where.push(`subject_type = $${params.push(filter.subjectType)}`);
    if (filter.subjectId !== undefined) where.push(`subject_id = $${params.push(filter.subjectId)}`);
    const { rows } = await this.query<HoldRow>(
      'listing holds',
      `SELECT ${COLUMNS} FROM ${this.s}.holds ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY placed_at, id`,
      params,
    );
    return rows.map(holdOf);
  }

  /** The active holds of each subject that has any, keyed by `subjectKeyOf`, oldest first. */
  async activeFor(subjects: ReadonlyArray<{ subjectType: string; subjectId: string }>): Promise<Map<string, Hold[]>> {
    const out = new Map<string, Hold[]>();
    if (subjects.length === 0) return out;
    const { rows } = await this.query<HoldRow>(
      'reading legal holds',
      `SELECT ${COLUMNS} FROM ${this.s}.holds
       WHERE released_at IS NULL AND (subject_type, subject_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
       ORDER BY placed_at, id`,
      [subjects.map((s) => s.subjectType), subjects.map((s) => s.subjectId)],
    );
    for (const hold of rows.map(holdOf)) {
      const key = subjectKeyOf(hold.subjectType, hold.subjectId);
      out.set(key, [...(out.get(key) ?? []), hold]);
    }
    return out;
  }

  /** Records events a sink kept back (a redelivered record held again is one row). */
  async recordHeld(events: readonly HeldEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.query(
      'recording held events',
      `INSERT INTO ${this.s}.held_events (hold_id, sink, event_id, part, event)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::jsonb[]) ON CONFLICT DO NOTHING`,
      [events.map((e) => e.holdId), events.map((e) => e.sink), events.map((e) => e.event.eventId), events.map((e) => e.event.part ?? 1), events.map((e) => JSON.stringify(e.event))],
    );
  }

  /** Every database error here is the database's: a wait, so no caller can mistake it for "no hold". */
  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw new ServiceUnavailableError('postgres', `${what} in schema ${this.schema}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
