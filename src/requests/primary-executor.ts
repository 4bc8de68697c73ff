import type pg from 'pg';
import type { Catalog, RequestHandler, SubjectType } from '../catalog/catalog.js';
import { displayIdent, formatQualifiedName, tableKey, type TableRef } from '../catalog/identifiers.js';
import { pseudonymOf, readHmacKey } from '../catalog/pseudonymization.js';
import { REQUEST_MESSAGE_PREFIX } from '../cdc/request-message.js';
import { RecordError, ServiceUnavailableError, UsageError } from '../errors.js';
import { planErasure, type ForeignKeyConflict } from './erasure-plan.js';
import { readForeignKeys } from './foreign-keys.js';
import { anonymizeStatement, countStatement, deleteStatement, hmacColumns, hmacReadStatement, needsPseudonym, sqlTable } from './handler-statements.js';
import { translatePrimary } from './primary-errors.js';

/**
 * Executes a privacy request in the primary: the catalog's `onRequest` handlers of the subject,
 * in one transaction of the source database that also names the request with
 * `pg_logical_emit_message(true, 'lethe', {"requestId", "subjects": [...]})`, so the CDC reader's
 * event for the subject (and every sink's ack) carries the request id, even when the root row
 * itself is kept. Tables are ordered from pg_constraint (erasure-plan.ts); a kept or held table a
 * delete would cascade into, or that would refuse it, refuses the whole request before anything
 * is written. The caller's `inTransaction` runs last, inside the same transaction (the request's
 * own state change, when the tracker lives in the source database), so both commit or neither.
 */

export interface RequestSubject {
  type: string;
  /** Column -> value in PostgreSQL's text form (as pgoutput prints it). */
  key: Record<string, string>;
}

/** A table under a hold: not written; `holdId` is recorded with it. */
export type HeldTable = TableRef & { holdId?: string };

export interface ExecuteInput {
  requestId: string;
  subject: RequestSubject;
  heldTables: readonly HeldTable[];
  inTransaction?: (client: pg.PoolClient) => Promise<void>;
}

export interface TableOutcome {
  table: TableRef;
  action: 'delete' | 'anonymize' | 'keep';
  /** Rows deleted or anonymized; for a kept or held table, the subject's rows it keeps. */
  rows: number;
  keptReason?: string;
  holdId?: string;
}

export interface ExecutionResult {
  tables: TableOutcome[];
}

/** The request would break a foreign key rule: refused before any write. A RecordError: no retry helps. */
export class RequestRefusedError extends RecordError {
  readonly conflicts: ForeignKeyConflict[];

  constructor(requestId: string, conflicts: ForeignKeyConflict[]) {
    super('REQUEST_FOREIGN_KEY_CONFLICT', `request ${requestId} was refused before any write: ${conflicts.map((c) => `${c.path}: ${c.message}`).join('; ')}`);
    this.conflicts = conflicts;
  }
}

export interface PrimaryExecutorOptions {
  catalog: Pick<Catalog, 'subjects' | 'pseudonymization'>;
  /** A pool on the source database (catalog.source.url). */
  pool: pg.Pool;
  env?: Record<string, string | undefined>;
}

export class PrimaryExecutor {
  private readonly subjects: Map<string, SubjectType>;
  private readonly pool: pg.Pool;
  private readonly hmacKeys = new Map<string, Buffer>();

  /** Reads the hmac key now when any handler needs it: a missing key stops start-up, not a request. */
  constructor(options: PrimaryExecutorOptions) {
    this.subjects = new Map(options.catalog.subjects.map((s) => [s.type, s]));
    this.pool = options.pool;
    for (const subject of options.catalog.subjects) {
      for (const handler of subject.onRequest) {
        if (handler.action.kind !== 'anonymize') continue;
        for (const r of Object.values(handler.action.columns)) {
          if (r.kind === 'hmac' && !this.hmacKeys.has(r.keyId)) this.hmacKeys.set(r.keyId, readHmacKey(r.keyId, options.env));
        }
      }
    }
  }

  /** Erases the subject by its handlers, skipping held tables (recorded as kept, with the hold). */
  async execute(input: ExecuteInput): Promise<ExecutionResult> {
    const subject = this.subjectOf(input.subject.type);
    return this.run(input.requestId, subject, input.subject.key, subject.onRequest, input.heldTables, input.inTransaction);
  }

  /**
   * Erases just `tables` of the subject, each by its handler, in the same transaction shape and
   * with the same message: what a released table hold kept. `heldTables`: holds still active.
   */
  async eraseTables(
    requestId: string,
    subject: RequestSubject,
    tables: readonly TableRef[],
    options: { heldTables?: readonly HeldTable[]; inTransaction?: (client: pg.PoolClient) => Promise<void> } = {},
  ): Promise<ExecutionResult> {
    const type = this.subjectOf(subject.type);
    const byTable = new Map(type.onRequest.map((h) => [tableKey(h.table), h]));
    const missing = tables.filter((t) => !byTable.has(tableKey(t)));
    if (missing.length > 0) throw new UsageError(`${missing.map(formatQualifiedName).join(', ')} has no handler in ${type.path}.onRequest`);
    const scope = tables.map((t) => byTable.get(tableKey(t))!);
    return this.run(requestId, type, subject.key, scope, options.heldTables ?? [], options.inTransaction);
  }

  private subjectOf(type: string): SubjectType {
    const subject = this.subjects.get(type);
    if (!subject) throw new UsageError(`no subject type ${type} in the catalog (known: ${[...this.subjects.keys()].join(', ')})`);
    if (subject.onRequest.length === 0) throw new UsageError(`${subject.path} has no onRequest handlers: the catalog does not say how a request erases a ${type}`);
    return subject;
  }

  private async run(
    requestId: string,
    subject: SubjectType,
    key: Record<string, string>,
    scope: readonly RequestHandler[],
    heldTables: readonly HeldTable[],
    inTransaction: ExecuteInput['inTransaction'],
  ): Promise<ExecutionResult> {
    const values = keyValues(subject, key);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw new ServiceUnavailableError('postgres', `connecting to the primary for request ${requestId}: ${(error as Error).message}`, { cause: error });
    }
    // The table being written, for an error's message.
    const at: { table?: TableRef } = {};
    try {
      await client.query('BEGIN');
      // Deferrable foreign keys are checked at commit: the plan orders only by the others.
      await client.query('SET CONSTRAINTS ALL DEFERRED');
      // Bounded waits, well inside the request's lease: a row the application holds locked makes
      // this a wait (retried next tick), never an erasure that outlives its claim.
      await client.query(`SET LOCAL lock_timeout = '30s'`);
      await client.query(`SET LOCAL statement_timeout = '120s'`);
      const result = await this.apply(client, requestId, subject, values, scope, heldTables, at);
      at.table = undefined;
      if (inTransaction) await inTransaction(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw translatePrimary(error, `request ${requestId}: erasing ${subject.type} in the primary`, at.table);
    } finally {
      client.release();
    }
  }

  /** Inside the transaction: the plan, its writes, the kept tables' counts, the message. */
  private async apply(
    client: pg.PoolClient,
    requestId: string,
    subject: SubjectType,
    values: readonly string[],
    scope: readonly RequestHandler[],
    heldTables: readonly HeldTable[],
    at: { table?: TableRef },
  ): Promise<ExecutionResult> {
    const held = new Map(heldTables.map((t) => [tableKey(t), t.holdId]));
    at.table = subject.table;
    const canonical = await canonicalKey(client, subject, values);
    // Kept and held tables take part in the plan (for their conflicts) even when out of scope.
    const inScope = new Set(scope.map((h) => tableKey(h.table)));
    const planned = subject.onRequest.filter((h) => inScope.has(tableKey(h.table)) || h.action.kind === 'keep' || held.has(tableKey(h.table)));
    // A held related table the handlers do not name is kept all the same: it joins the plan, so a
    // cascade into it (or a delete it would refuse) refuses the request instead of erasing it.
    for (const r of subject.related) {
      if (!held.has(tableKey(r.table)) || planned.some((h) => tableKey(h.table) === tableKey(r.table))) continue;
      planned.push({ table: r.table, subjectColumns: r.subjectColumns, path: r.path, action: { kind: 'keep', reason: 'under a legal hold' } });
    }
    const plan = planErasure(planned, await readForeignKeys(client, planned.map((h) => h.table)), held);
    if (plan.conflicts.length > 0) throw new RequestRefusedError(requestId, plan.conflicts);

    const tables: TableOutcome[] = [];
    for (const handler of plan.writes) {
      at.table = handler.table;
      tables.push({ table: handler.table, action: handler.action.kind as 'delete' | 'anonymize', rows: await this.write(client, subject, handler, canonical) });
    }
    for (const { handler, holdId } of plan.kept) {
      if (!inScope.has(tableKey(handler.table))) continue;
      at.table = handler.table;
      const { rows } = await client.query<{ n: number }>(countStatement(handler.table, handler.subjectColumns, canonical));
      tables.push({
        table: handler.table,
        action: 'keep',
        rows: rows[0]!.n,
        ...(handler.action.kind === 'keep' ? { keptReason: handler.action.reason } : {}),
        ...(holdId !== undefined ? { holdId } : {}),
      });
    }
    at.table = undefined;
    const rootDeleted = plan.writes.some((h) => tableKey(h.table) === tableKey(subject.table) && h.action.kind === 'delete');
    const message = {
      requestId,
      subjects: [{ type: subject.type, key: Object.fromEntries(subject.key.map((c, i) => [c, canonical[i]!])), operation: rootDeleted ? 'DELETE' : 'ANONYMIZE' }],
    };
    await client.query('SELECT pg_logical_emit_message(true, $1, $2::text)', [REQUEST_MESSAGE_PREFIX, JSON.stringify(message)]);
    return { tables };
  }

  private async write(client: pg.PoolClient, subject: SubjectType, handler: RequestHandler, key: readonly string[]): Promise<number> {
    if (handler.action.kind === 'delete') return (await client.query(deleteStatement(handler, key))).rowCount ?? 0;
    const pseudonyms = new Map<string, Map<string, string>>();
    const columns = hmacColumns(handler);
    if (columns.length > 0) {
      const { rows } = await client.query<Record<string, string | null>>(hmacReadStatement(handler, key, columns));
      columns.forEach((column, i) => {
        const replacement = handler.action.kind === 'anonymize' ? handler.action.columns[column]! : undefined;
        const keyId = replacement?.kind === 'hmac' ? replacement.keyId : '';
        const map = new Map<string, string>();
        for (const row of rows) {
          const old = row[`v${i}`] ?? null;
          if (needsPseudonym(old) && !map.has(old)) map.set(old, pseudonymOf(keyId, this.hmacKeys.get(keyId)!, old));
        }
        pseudonyms.set(column, map);
      });
    }
    const isRoot = tableKey(handler.table) === tableKey(subject.table);
    const mark = isRoot ? subject.erasedWhen.find((r) => r.kind === 'update') : undefined;
    return (await client.query(anonymizeStatement(handler, key, pseudonyms, mark))).rowCount ?? 0;
  }
}

/** The key's values in key order; a key naming other columns, or missing one, is the caller's mistake. */
function keyValues(subject: SubjectType, key: Record<string, string>): string[] {
  const given = Object.keys(key);
  const extra = given.filter((c) => !subject.key.includes(c));
  const absent = subject.key.filter((c) => typeof key[c] !== 'string');
  if (extra.length > 0 || absent.length > 0) {
    throw new UsageError(`a ${subject.type} is named by ${subject.key.map(displayIdent).join(', ')}; the request's subject key has ${given.map(displayIdent).join(', ') || 'no column'}`);
  }
  return subject.key.map((c) => key[c]!);
}

/**
 * The key as PostgreSQL prints it for the root's column types. A value in another form (`042`
 * for a bigint, an upper-case uuid) would name a subject no event of the reader could: refused,
 * as is a value the type does not take.
 */
export async function canonicalKey(client: pg.PoolClient, subject: SubjectType, values: readonly string[]): Promise<string[]> {
  const { rows: types } = await client.query<{ column: string; type: string }>(
    `SELECT a.attname::text AS column, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [sqlTable(subject.table)],
  );
  const typeOf = new Map(types.map((t) => [t.column, t.type]));
  const missing = subject.key.filter((c) => !typeOf.has(c));
  if (missing.length > 0) {
    throw new RecordError('PRIMARY_SCHEMA', `${formatQualifiedName(subject.table)} has no column ${missing.map(displayIdent).join(', ')} (${subject.path}.key), or does not exist`);
  }
  // format_type's output is a type name quoted as SQL needs it, read from the catalog, not input.
  const select = subject.key.map((c, i) => `($${i + 1}::text)::${typeOf.get(c)}::text AS k${i}`).join(', ');
  const { rows } = await client.query<Record<string, string>>(`SELECT ${select}`, [...values]);
  const canonical = subject.key.map((_, i) => rows[0]![`k${i}`]!);
  const differs = subject.key.filter((_, i) => canonical[i] !== values[i]);
  if (differs.length > 0) {
    throw new RecordError('REQUEST_SUBJECT_KEY', `the ${subject.type}'s key is not in PostgreSQL's text form for ${differs.map(displayIdent).join(', ')} (${differs.map((c) => typeOf.get(c)).join(', ')}): events name subjects as the database prints them`);
  }
  return canonical;
}
