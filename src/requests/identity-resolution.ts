import type pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { quoteIdent } from '../catalog/identifiers.js';
import { RecordError, UsageError } from '../errors.js';
import { sqlTable } from './handler-statements.js';
import { translatePrimary } from './primary-errors.js';

/**
 * Finds the subject a request's identity (an email address) names, on the subject's root table,
 * by the catalog's `identities`: `column = value`, or `lower(column) = lower(value)` when the
 * identity is case-insensitive. The key comes back as PostgreSQL prints it (`::text`), as the CDC
 * reader's events carry it. No row is a result (null), two are an error: which one the person
 * is cannot be told, and erasing both would erase a neighbour. Errors never quote the value.
 */
export async function resolveIdentity(
  catalog: Pick<Catalog, 'subjects'>,
  pool: pg.Pool,
  subjectType: string,
  kind: string,
  value: string,
): Promise<Record<string, string> | null> {
  const subject = catalog.subjects.find((s) => s.type === subjectType);
  if (!subject) throw new UsageError(`no subject type ${subjectType} in the catalog`);
  const identity = subject.identities.find((i) => i.kind === kind);
  if (!identity) {
    const known = subject.identities.map((i) => i.kind);
    throw new UsageError(`${subject.path} has no identity ${kind}${known.length > 0 ? ` (known: ${known.join(', ')})` : ': add identities: { <kind>: { column: <column> } }'}`);
  }
  const c = quoteIdent(identity.column);
  const where = identity.caseInsensitive ? `lower(${c}) = lower($1)` : `${c} = $1`;
  const select = subject.key.map((k, i) => `${quoteIdent(k)}::text AS k${i}`).join(', ');
  const notNull = subject.key.map((k) => `${quoteIdent(k)} IS NOT NULL`).join(' AND ');
  let rows: Array<Record<string, string>>;
  try {
    // Two rows are enough to know it is ambiguous.
    ({ rows } = await pool.query<Record<string, string>>(`SELECT ${select} FROM ${sqlTable(subject.table)} WHERE ${where} AND ${notNull} LIMIT 2`, [value]));
  } catch (error) {
    throw translatePrimary(error, `resolving identity ${kind} of a ${subjectType}`, subject.table);
  }
  if (rows.length === 0) return null;
  if (rows.length > 1) {
    throw new RecordError('IDENTITY_AMBIGUOUS', `identity ${kind} names more than one ${subjectType} (${identity.path}): which one the request is for cannot be told; make ${identity.column} unique or have an operator name the subject`);
  }
  return Object.fromEntries(subject.key.map((k, i) => [k, rows[0]![`k${i}`]!]));
}
