import type pg from 'pg';
import type { Catalog, SubjectType } from '../catalog/catalog.js';
import { displayIdent, formatQualifiedName, quoteIdent, tableKey, type TableRef } from '../catalog/identifiers.js';
import { subjectIdOf } from '../cdc/erasure-manifest.js';
import { RecordError, ServiceUnavailableError, UsageError } from '../errors.js';
import { match, sqlTable } from './handler-statements.js';
import { canonicalKey, type RequestSubject } from './primary-executor.js';
import { translatePrimary } from './primary-errors.js';

/**
 * What an access request gives the person: their rows in the primary. The subject's root row by
 * its key, then each table of the subject once (its `related` tables, then its `onRequest`
 * tables, each by its subject columns), every column, each value as PostgreSQL prints it
 * (`::text`: a bigint beyond 2^53, a numeric, a timestamp keep their exact text; NULL is null).
 * Rows are matched exactly, as the executor matches them (handler-statements.ts): the value as
 * the column's type and as text, so `042` never reads the bigint 42's rows, and a key not in
 * PostgreSQL's text form is refused. One REPEATABLE READ, READ ONLY transaction: every table is
 * read from one snapshot. Bounded: a table holding more than MAX_EXPORT_ROWS rows of the subject
 * refuses the export (a RecordError naming the table: the request fails and says so, to be
 * answered by hand), rather than give the person a partial copy that claims to be whole.
 */

/** At most this many rows of one table are exported; more refuses the export. */
export const MAX_EXPORT_ROWS = 10_000;

export interface AccessExportTable {
  /** `schema.table`, as Postgres prints it. */
  table: string;
  rows: Array<Record<string, string | null>>;
}

export interface AccessExport {
  requestId: string;
  /** `type:id`, e.g. `user:42`. */
  subject: string;
  /** ISO 8601. */
  generatedAt: string;
  tables: AccessExportTable[];
}

export interface BuildExportInput {
  catalog: Pick<Catalog, 'subjects'>;
  /** A pool on the source database (catalog.source.url). */
  pool: pg.Pool;
  requestId: string;
  subject: RequestSubject;
  /** When the export is made (the injected clock's time). */
  now: number;
}

/** The tables an export reads, each once: the root by its key, then related, then onRequest tables. */
export function exportTables(subject: SubjectType): Array<{ table: TableRef; subjectColumns: string[] }> {
  const out = new Map<string, { table: TableRef; subjectColumns: string[] }>();
  const add = (table: TableRef, subjectColumns: string[]) => {
    if (!out.has(tableKey(table))) out.set(tableKey(table), { table, subjectColumns });
  };
  add(subject.table, subject.key);
  for (const r of subject.related) add(r.table, r.subjectColumns);
  for (const h of subject.onRequest) add(h.table, h.subjectColumns);
  return [...out.values()];
}

export async function buildAccessExport(input: BuildExportInput): Promise<AccessExport> {
  const subject = input.catalog.subjects.find((s) => s.type === input.subject.type);
  if (!subject) throw new UsageError(`no subject type ${input.subject.type} in the catalog`);
  const values = keyValues(subject, input.subject.key);
  let client: pg.PoolClient;
  try {
    client = await input.pool.connect();
  } catch (error) {
    throw new ServiceUnavailableError('postgres', `connecting to the primary for the access export of request ${input.requestId}: ${(error as Error).message}`, { cause: error });
  }
  const at: { table?: TableRef } = { table: subject.table };
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const key = await canonicalKey(client, subject, values);
    const tables: AccessExportTable[] = [];
    for (const t of exportTables(subject)) {
      at.table = t.table;
      tables.push({ table: formatQualifiedName(t.table), rows: await readRows(client, t.table, t.subjectColumns, key, input.requestId) });
    }
    await client.query('COMMIT');
    return { requestId: input.requestId, subject: `${subject.type}:${subjectIdOf(key)}`, generatedAt: new Date(input.now).toISOString(), tables };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw translatePrimary(error, `request ${input.requestId}: reading the ${subject.type}'s rows for an access export`, at.table);
  } finally {
    client.release();
  }
}

/** The subject's rows of one table, every column as text, in primary key order when it has one. */
async function readRows(client: pg.PoolClient, table: TableRef, subjectColumns: readonly string[], key: readonly string[], requestId: string): Promise<AccessExportTable['rows']> {
  const { rows: columns } = await client.query<{ name: string; pk: boolean }>(
    `SELECT a.attname::text AS name, coalesce(a.attnum = ANY(i.indkey::int2[]), false) AS pk
       FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [sqlTable(table)],
  );
  if (columns.length === 0) throw new RecordError('PRIMARY_SCHEMA', `${formatQualifiedName(table)} does not exist, or has no columns: the access export cannot read it`);
  const missing = subjectColumns.filter((c) => !columns.some((col) => col.name === c));
  if (missing.length > 0) throw new RecordError('PRIMARY_SCHEMA', `${formatQualifiedName(table)} has no column ${missing.map(displayIdent).join(', ')}: the access export cannot find the subject's rows`);
  const params: unknown[] = [];
  const where = match(subjectColumns, key, params);
  const list = columns.map((c, i) => `${quoteIdent(c.name)}::text AS c${i}`).join(', ');
  const pk = columns.filter((c) => c.pk).map((c) => quoteIdent(c.name));
  const order = pk.length > 0 ? ` ORDER BY ${pk.join(', ')}` : '';
  const { rows } = await client.query<Record<string, string | null>>(`SELECT ${list} FROM ${sqlTable(table)} WHERE ${where}${order} LIMIT ${MAX_EXPORT_ROWS + 1}`, params);
  if (rows.length > MAX_EXPORT_ROWS) {
    throw new RecordError('ACCESS_EXPORT_TOO_LARGE', `request ${requestId}: ${formatQualifiedName(table)} holds more than ${MAX_EXPORT_ROWS} rows of the subject: an access export is bounded at ${MAX_EXPORT_ROWS} rows per table; answer this request by hand`);
  }
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[`c${i}`] ?? null])));
}

function keyValues(subject: SubjectType, key: Record<string, string>): string[] {
  const absent = subject.key.filter((c) => typeof key[c] !== 'string');
  if (absent.length > 0 || Object.keys(key).length !== subject.key.length) {
    throw new UsageError(`a ${subject.type} is named by ${subject.key.map(displayIdent).join(', ')}; the request's subject key has ${Object.keys(key).map(displayIdent).join(', ') || 'no column'}`);
  }
  return subject.key.map((c) => key[c]!);
}
