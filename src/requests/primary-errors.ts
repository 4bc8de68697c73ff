import pg from 'pg';
import { formatQualifiedName, type TableRef } from '../catalog/identifiers.js';
import { InvariantError, LetheError, RecordError, ServiceUnavailableError } from '../errors.js';

/**
 * The primary's errors for the request executor and identity resolution, decided in one place.
 * The database away (a connection error, a shutdown, a failover, a deadlock or serialization
 * failure a retry resolves) is a wait. Any other answer with a SQLSTATE is the subject's own
 * erasure refused (a foreign key, a check or not-null constraint, a value the column does not
 * take, a table or column the catalog names but the database lacks, a trigger's exception): a
 * RecordError naming the table, the constraint and the SQLSTATE. Never the server's message for
 * data exceptions and raised exceptions, and never the error as cause, since the driver's error
 * carries the row's values in its detail.
 */

/** Same classes as the tracker store's: https://www.postgresql.org/docs/current/errcodes-appendix.html */
const UNAVAILABLE_SQLSTATE = /^(08|40|53|57|58)|^25006$|^55P03$/;
/** Classes whose server message may quote a value: a data exception (22), a raised exception (P0). */
const MAY_QUOTE_VALUES = /^(22|P0)/;

const RECORD_CODES: Array<[RegExp, string]> = [
  [/^23/, 'PRIMARY_CONSTRAINT'],
  [/^22/, 'PRIMARY_DATA'],
  [/^42/, 'PRIMARY_SCHEMA'],
];

export function translatePrimary(error: unknown, what: string, table?: TableRef): unknown {
  if (error instanceof LetheError) return error;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof InvariantError) return error;
  if (!(error instanceof pg.DatabaseError) || error.code === undefined || UNAVAILABLE_SQLSTATE.test(error.code)) {
    return new ServiceUnavailableError('postgres', `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const code = RECORD_CODES.find(([pattern]) => pattern.test(error.code!))?.[1] ?? 'PRIMARY_REFUSED';
  const at = error.table ? `${error.schema ? `${error.schema}.` : ''}${error.table}` : table ? formatQualifiedName(table) : undefined;
  const parts = [
    at ? `table ${at}` : undefined,
    error.constraint ? `constraint ${error.constraint}` : undefined,
    error.column ? `column ${error.column}` : undefined,
    `SQLSTATE ${error.code}`,
  ].filter(Boolean);
  const said = MAY_QUOTE_VALUES.test(error.code) ? '' : `: ${error.message}`;
  return new RecordError(code, `${what} refused (${parts.join(', ')})${said}`);
}
