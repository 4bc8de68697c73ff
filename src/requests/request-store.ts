import pg from 'pg';
import { LetheError, ServiceUnavailableError } from '../errors.js';
import { trackerSchemaSql, translatePg } from '../tracker/status-store.js';
import { inTransaction } from '../tracker/pg-transaction.js';
import type { Law } from './deadlines.js';
import { canMove, type Actor, type DenialReason, type RequestState, type RequestType } from './request-states.js';

/**
 * Where privacy requests live (the tables are part of the tracker's, trackerSchemaSql): in the tracker's database and schema, beside the erasure log they
 * end in. A request's state only changes through `move`, a compare-and-set under the row's lock
 * that also appends the transition (who, when, why), so the history is complete and two Lethe
 * instances never make one move twice. Timers are rows claimed with FOR UPDATE SKIP LOCKED
 * against the injected clock; mail goes through an outbox, so a notification survives a crash and
 * an SMTP outage.
 */
export function requestSchemaSql(schema: string): string {
  const s = pg.escapeIdentifier(schema);
  return `CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.requests (
  id text PRIMARY KEY,
  type text NOT NULL,
  state text NOT NULL,
  law text NOT NULL,
  subject_type text,
  subject_id text,
  subject_key jsonb,
  identity_kind text,
  identity_value text,
  identity_hash text,
  source text NOT NULL,
  idempotency_key text UNIQUE,
  created_by text NOT NULL,
  received_at timestamptz NOT NULL,
  deadline timestamptz NOT NULL,
  extended_at timestamptz,
  extension_reason text,
  grace_ends_at timestamptz,
  denial_reason text,
  exceptions jsonb NOT NULL DEFAULT '[]',
  pending_tables jsonb,
  lease_owner text,
  lease_until timestamptz,
  executed_at timestamptz,
  executions integer NOT NULL DEFAULT 0,
  execution_lsn text,
  execution_failed boolean NOT NULL DEFAULT false,
  closed_at timestamptz,
  updated_at timestamptz NOT NULL
);
-- Columns added after the table first shipped.
ALTER TABLE ${s}.requests ADD COLUMN IF NOT EXISTS execution_lsn text;
ALTER TABLE ${s}.requests ADD COLUMN IF NOT EXISTS execution_failed boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS requests_open ON ${s}.requests (state) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS requests_subject ON ${s}.requests (subject_type, subject_id);
CREATE TABLE IF NOT EXISTS ${s}.request_transitions (
  seq bigserial PRIMARY KEY,
  request_id text NOT NULL REFERENCES ${s}.requests (id),
  from_state text,
  to_state text NOT NULL,
  actor text NOT NULL,
  reason text,
  at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS request_transitions_request ON ${s}.request_transitions (request_id, seq);
CREATE TABLE IF NOT EXISTS ${s}.request_verifications (
  request_id text PRIMARY KEY REFERENCES ${s}.requests (id),
  code_hash text,
  expires_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  used_at timestamptz,
  sent_at timestamptz
);
CREATE TABLE IF NOT EXISTS ${s}.request_timers (
  request_id text NOT NULL REFERENCES ${s}.requests (id),
  kind text NOT NULL,
  due_at timestamptz NOT NULL,
  fired_at timestamptz,
  PRIMARY KEY (request_id, kind)
);
CREATE INDEX IF NOT EXISTS request_timers_due ON ${s}.request_timers (due_at) WHERE fired_at IS NULL;
CREATE TABLE IF NOT EXISTS ${s}.request_mail (
  id bigserial PRIMARY KEY,
  request_id text NOT NULL REFERENCES ${s}.requests (id),
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  sent_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
CREATE INDEX IF NOT EXISTS request_mail_unsent ON ${s}.request_mail (id) WHERE sent_at IS NULL;
-- An access request's copy of the person's data, sealed (AES-256-GCM, access-exports.ts), deleted at expires_at.
CREATE TABLE IF NOT EXISTS ${s}.request_exports (
  request_id text PRIMARY KEY REFERENCES ${s}.requests (id),
  content bytea NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  downloaded_at timestamptz
);
CREATE INDEX IF NOT EXISTS request_exports_expiry ON ${s}.request_exports (expires_at);
-- Erasures name their request in their facts (the CDC reader's requestId).
CREATE INDEX IF NOT EXISTS erasures_request ON ${s}.erasures ((facts->>'requestId')) WHERE facts->>'requestId' IS NOT NULL;`;
}

/** What a request kept, and why: a table the catalog keeps, or a scope under a legal hold. */
export type RequestException =
  | { kind: 'kept'; table: string; reason: string }
  | { kind: 'held'; scope: string; holdId: string; basis: string; review: string; released?: boolean };

export interface RequestRow {
  id: string;
  type: RequestType;
  state: RequestState;
  law: Law;
  subjectType: string | null;
  subjectId: string | null;
  subjectKey: Record<string, string> | null;
  identityKind: string | null;
  /** The address while mail is still to be sent to it; never returned by the API. */
  identityValue: string | null;
  /** A keyed hash of the identity, kept after the address is forgotten. */
  identityHash: string | null;
  source: string;
  idempotencyKey: string | null;
  createdBy: string;
  receivedAt: number;
  deadline: number;
  extendedAt: number | null;
  extensionReason: string | null;
  graceEndsAt: number | null;
  denialReason: DenialReason | null;
  exceptions: RequestException[];
  pendingTables: string[] | null;
  /** The last execution itself failed (a refusal in the primary), as opposed to an erasure in a sink. */
  executionFailed: boolean;
  executedAt: number | null;
  closedAt: number | null;
  updatedAt: number;
}

export interface Transition {
  from: RequestState | null;
  to: RequestState;
  actor: Actor;
  reason: string | null;
  at: number;
}

const ms = (v: Date | null) => (v === null ? null : v.getTime());

function rowOf(r: Record<string, unknown>): RequestRow {
  return {
    id: r.id as string,
    type: r.type as RequestType,
    state: r.state as RequestState,
    law: r.law as Law,
    subjectType: r.subject_type as string | null,
    subjectId: r.subject_id as string | null,
    subjectKey: r.subject_key as Record<string, string> | null,
    identityKind: r.identity_kind as string | null,
    identityValue: r.identity_value as string | null,
    identityHash: r.identity_hash as string | null,
    source: r.source as string,
    idempotencyKey: r.idempotency_key as string | null,
    createdBy: r.created_by as string,
    receivedAt: (r.received_at as Date).getTime(),
    deadline: (r.deadline as Date).getTime(),
    extendedAt: ms(r.extended_at as Date | null),
    extensionReason: r.extension_reason as string | null,
    graceEndsAt: ms(r.grace_ends_at as Date | null),
    denialReason: r.denial_reason as DenialReason | null,
    exceptions: (r.exceptions as RequestException[]) ?? [],
    pendingTables: r.pending_tables as string[] | null,
    executionFailed: r.execution_failed === true,
    executedAt: ms(r.executed_at as Date | null),
    closedAt: ms(r.closed_at as Date | null),
    updatedAt: (r.updated_at as Date).getTime(),
  };
}

/** Columns `move` may set beside the state. */
export interface MoveFields {
  subject_type?: string;
  subject_id?: string;
  subject_key?: Record<string, string>;
  grace_ends_at?: number;
  denial_reason?: DenialReason;
  exceptions?: RequestException[];
  pending_tables?: string[] | null;
  executed_at?: number;
  lease_owner?: string | null;
  lease_until?: number | null;
  execution_lsn?: string;
  execution_failed?: boolean;
}

const FINAL_COLUMNS = new Set<RequestState>(['complete', 'complete_with_exceptions', 'canceled', 'denied', 'closed_unverified']);

export class RequestStore {
  readonly s: string;

  constructor(
    readonly pool: pg.Pool,
    readonly schema: string,
  ) {
    this.s = pg.escapeIdentifier(schema);
  }

  async ensureSchema(): Promise<void> {
    await this.query(trackerSchemaSql(this.schema), [], 'creating the tracker and request tables');
  }

  /** Runs `fn` in one transaction; a server that cannot be reached is a wait. */
  transaction<T>(fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn, (error) => translate(error, 'the request store'));
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[], what: string, db: pg.Pool | pg.PoolClient = this.pool): Promise<pg.QueryResult<R>> {
    try {
      return await db.query<R>(sql, params);
    } catch (error) {
      throw translate(error, what);
    }
  }

  async get(id: string, db: pg.Pool | pg.PoolClient = this.pool, lock = false): Promise<RequestRow | undefined> {
    const { rows } = await this.query(`SELECT * FROM ${this.s}.requests WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id], `reading request ${id}`, db);
    return rows[0] ? rowOf(rows[0]) : undefined;
  }

  async byIdempotencyKey(key: string, db: pg.Pool | pg.PoolClient = this.pool): Promise<RequestRow | undefined> {
    const { rows } = await this.query(`SELECT * FROM ${this.s}.requests WHERE idempotency_key = $1`, [key], 'reading a request by idempotency key', db);
    return rows[0] ? rowOf(rows[0]) : undefined;
  }

  async list(filter: { states?: RequestState[]; subjectType?: string; subjectId?: string; limit?: number } = {}): Promise<RequestRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.states?.length) where.push(`state = ANY($${params.push(filter.states)})`);
    if (filter.subjectType) where.push(`subject_type = $${params.push(filter.subjectType)}`);
    if (filter.subjectId) where.push(`subject_id = $${params.push(filter.subjectId)}`);
    // Open requests first, the nearest deadline first; then the most recent closed ones.
    const { rows } = await this.query(
      `SELECT * FROM ${this.s}.requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY (closed_at IS NULL) DESC, CASE WHEN closed_at IS NULL THEN deadline END ASC, received_at DESC
       LIMIT $${params.push(filter.limit ?? 200)}`,
      params,
      'listing requests',
    );
    return rows.map(rowOf);
  }

  /** Requests by type and state, and the open ones' deadlines: what /metrics shows. */
  async gauges(now: number): Promise<{ byState: Array<{ type: string; state: string; n: number }>; open: Array<{ type: string; secondsToDeadline: number }> }> {
    const byState = await this.query<{ type: string; state: string; n: string }>(`SELECT type, state, count(*) AS n FROM ${this.s}.requests GROUP BY type, state`, [], 'counting requests');
    const open = await this.query<{ type: string; s: number }>(
      `SELECT type, extract(epoch FROM deadline - to_timestamp($1 / 1000.0))::float8 AS s FROM ${this.s}.requests WHERE closed_at IS NULL`,
      [now],
      'reading open deadlines',
    );
    return { byState: byState.rows.map((r) => ({ type: r.type, state: r.state, n: Number(r.n) })), open: open.rows.map((r) => ({ type: r.type, secondsToDeadline: r.s })) };
  }

  async transitions(id: string): Promise<Transition[]> {
    const { rows } = await this.query<{ from_state: RequestState | null; to_state: RequestState; actor: string; reason: string | null; at: Date }>(
      `SELECT from_state, to_state, actor, reason, at FROM ${this.s}.request_transitions WHERE request_id = $1 ORDER BY seq`,
      [id],
      `reading the history of request ${id}`,
    );
    return rows.map((r) => ({ from: r.from_state, to: r.to_state, actor: r.actor, reason: r.reason, at: r.at.getTime() }));
  }

  /** Inserts a new request (state `received`) unless its idempotency key exists: then undefined. */
  async insert(db: pg.PoolClient, r: Omit<RequestRow, 'state' | 'extendedAt' | 'extensionReason' | 'graceEndsAt' | 'denialReason' | 'exceptions' | 'pendingTables' | 'executionFailed' | 'executedAt' | 'closedAt' | 'updatedAt'>, now: number): Promise<boolean> {
    const { rowCount } = await this.query(
      `INSERT INTO ${this.s}.requests (id, type, state, law, subject_type, subject_id, subject_key, identity_kind, identity_value, identity_hash, source, idempotency_key, created_by, received_at, deadline, updated_at)
       VALUES ($1, $2, 'received', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, to_timestamp($13 / 1000.0), to_timestamp($14 / 1000.0), to_timestamp($13 / 1000.0))
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [r.id, r.type, r.law, r.subjectType, r.subjectId, r.subjectKey === null ? null : JSON.stringify(r.subjectKey), r.identityKind, r.identityValue, r.identityHash, r.source, r.idempotencyKey, r.createdBy, now, r.deadline],
      'storing a request',
      db,
    );
    if (rowCount === 1) await this.appendTransition(db, r.id, null, 'received', r.createdBy, null, now);
    return rowCount === 1;
  }

  /**
   * Moves a request from one of `from` to `to` if it is still there (compare-and-set under the
   * row's lock), recording who and why. Returns the new row, or undefined when it had moved on.
   */
  async move(db: pg.PoolClient, id: string, from: readonly RequestState[], to: RequestState, actor: Actor, reason: string | null, now: number, fields: MoveFields = {}): Promise<RequestRow | undefined> {
    const current = await this.get(id, db, true);
    if (!current || !from.includes(current.state) || !canMove(current.state, to)) return undefined;
    const sets = ['state = $2', 'updated_at = to_timestamp($3 / 1000.0)'];
    const params: unknown[] = [id, to, now];
    for (const [column, value] of Object.entries(fields)) {
      const timestamp = column.endsWith('_at') || column === 'lease_until';
      const json = column === 'subject_key' || column === 'exceptions' || column === 'pending_tables';
      const v = value === null ? null : json ? JSON.stringify(value) : value;
      sets.push(`${column} = ${timestamp && v !== null ? `to_timestamp($${params.push(v)} / 1000.0)` : `$${params.push(v)}`}`);
    }
    if (FINAL_COLUMNS.has(to)) sets.push(`closed_at = to_timestamp($3 / 1000.0)`);
    else sets.push('closed_at = NULL');
    const { rows } = await this.query(`UPDATE ${this.s}.requests SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, params, `moving request ${id} to ${to}`, db);
    await this.appendTransition(db, id, current.state, to, actor, reason, now);
    return rowOf(rows[0]!);
  }

  async appendTransition(db: pg.PoolClient, id: string, from: RequestState | null, to: RequestState, actor: Actor, reason: string | null, now: number): Promise<void> {
    await this.query(
      `INSERT INTO ${this.s}.request_transitions (request_id, from_state, to_state, actor, reason, at) VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0))`,
      [id, from, to, actor, reason, now],
      `recording a move of request ${id}`,
      db,
    );
  }

  async setTimer(db: pg.PoolClient, id: string, kind: TimerKind, dueAt: number): Promise<void> {
    await this.query(
      `INSERT INTO ${this.s}.request_timers (request_id, kind, due_at) VALUES ($1, $2, to_timestamp($3 / 1000.0))
       ON CONFLICT (request_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at, fired_at = NULL`,
      [id, kind, dueAt],
      `setting the ${kind} timer of request ${id}`,
      db,
    );
  }

  async clearTimers(db: pg.PoolClient, id: string, kinds: readonly TimerKind[]): Promise<void> {
    await this.query(`DELETE FROM ${this.s}.request_timers WHERE request_id = $1 AND kind = ANY($2)`, [id, kinds], `clearing timers of request ${id}`, db);
  }

  /**
   * Due timers, claimed by locking their requests for this transaction; another instance skips
   * them. The request row is the one lock of a request: every action takes it before touching
   * the request's timers, so a cancel and the end of its grace period never deadlock, and
   * whichever comes second sees what the first did.
   */
  async claimDueTimers(db: pg.PoolClient, now: number, limit = 50): Promise<Array<{ requestId: string; kind: TimerKind; dueAt: number }>> {
    const { rows } = await this.query<{ request_id: string; kind: TimerKind; due_at: Date }>(
      `SELECT t.request_id, t.kind, t.due_at FROM ${this.s}.request_timers t JOIN ${this.s}.requests r ON r.id = t.request_id
       WHERE t.fired_at IS NULL AND t.due_at <= to_timestamp($1 / 1000.0)
       ORDER BY t.due_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED`,
      [now, limit],
      'claiming due request timers',
      db,
    );
    return rows.map((r) => ({ requestId: r.request_id, kind: r.kind, dueAt: r.due_at.getTime() }));
  }

  /** Marks a due timer fired; false when it is not (any more): fired by another, moved, or cleared. */
  async fireTimer(db: pg.PoolClient, id: string, kind: TimerKind, now: number): Promise<boolean> {
    const { rowCount } = await this.query(
      `UPDATE ${this.s}.request_timers SET fired_at = to_timestamp($3 / 1000.0) WHERE request_id = $1 AND kind = $2 AND fired_at IS NULL AND due_at <= to_timestamp($3 / 1000.0)`,
      [id, kind, now],
      `firing a timer of request ${id}`,
      db,
    );
    return rowCount === 1;
  }

  async queueMail(db: pg.PoolClient, id: string, kind: MailKind, payload: Record<string, unknown>, now: number): Promise<void> {
    await this.query(
      `INSERT INTO ${this.s}.request_mail (request_id, kind, payload, created_at) VALUES ($1, $2, $3, to_timestamp($4 / 1000.0))`,
      [id, kind, JSON.stringify(payload), now],
      `queueing mail for request ${id}`,
      db,
    );
  }
}

export type TimerKind = 'verification_reminder' | 'verification_expiry' | 'grace_end' | 'deadline';
export type MailKind = 'verification' | 'reminder' | 'receipt' | 'completion' | 'denial' | 'canceled' | 'closed_unverified' | 'extended';

/** A Postgres error as the tracker's store classifies it (unreachable: a wait), named by what was done. */
export function translate(error: unknown, what: string): Error {
  if (error instanceof LetheError) return error;
  if ((error as { code?: string }).code === '42P01') return new LetheError('TRACKER_NOT_INITIALIZED', `${what}: the request tables are missing: run \`lethe init\` (or start \`lethe run\`) first`, { cause: error });
  const translated = translatePg(error) as LetheError;
  return translated instanceof ServiceUnavailableError ? new ServiceUnavailableError('postgres', `${what}: ${(error as Error).message}`, { cause: error }) : translated;
}
