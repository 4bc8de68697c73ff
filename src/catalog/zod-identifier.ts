import { z } from 'zod';
import { IdentifierError, parseColumnName, parseQualifiedName, type TableRef } from './identifiers.js';

/** A string parsed by one of the identifier parsers; a parse error becomes an issue at its path. */
function identifier<T>(parse: (text: string) => T, what: string) {
  return z.string().transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a ${what}: ${(error as IdentifierError).message}` });
      return z.NEVER;
    }
  });
}

/** `schema.table` or `table`, PostgreSQL rules (quoted names keep case). */
export const tableName = identifier<TableRef>(parseQualifiedName, 'table name');
/** One column name, PostgreSQL rules. */
export const columnName = identifier<string>(parseColumnName, 'column name');
