/**
 * PostgreSQL identifiers as the catalog names them, with Postgres's own rules: an unquoted name
 * folds to lower case (`Public.Users` is public.users), a double-quoted one keeps its case and
 * may hold dots and doubled quotes (`"Billing"."Customer.Accounts"`).
 */
export interface TableRef {
  schema: string;
  name: string;
}

const PLAIN = /^[a-z_][a-z0-9_$]*$/;
// Reserved words that must be quoted to be used as names (a subset of Postgres's list: the ones
// an application's tables and columns plausibly use).
const RESERVED = new Set([
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'both', 'case', 'cast', 'check', 'collate',
  'column', 'constraint', 'create', 'current_date', 'current_role', 'current_time', 'current_timestamp',
  'current_user', 'default', 'deferrable', 'desc', 'distinct', 'do', 'else', 'end', 'except', 'false', 'fetch',
  'for', 'foreign', 'from', 'grant', 'group', 'having', 'in', 'initially', 'intersect', 'into', 'lateral',
  'leading', 'limit', 'localtime', 'localtimestamp', 'not', 'null', 'offset', 'on', 'only', 'or', 'order',
  'placing', 'primary', 'references', 'returning', 'select', 'session_user', 'some', 'symmetric', 'table',
  'then', 'to', 'trailing', 'true', 'union', 'unique', 'user', 'using', 'variadic', 'when', 'where', 'window',
  'with',
]);

export class IdentifierError extends Error {}

/** Splits and unquotes a dotted identifier; throws IdentifierError on malformed input. */
function splitIdentifier(text: string): string[] {
  const parts: string[] = [];
  let i = 0;
  const input = text.trim();
  if (input === '') throw new IdentifierError('empty name');
  while (i <= input.length) {
    if (input[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= input.length) throw new IdentifierError(`unterminated quote in ${text}`);
        if (input[i] === '"') {
          if (input[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        value += input[i];
        i += 1;
      }
      if (value === '') throw new IdentifierError(`empty quoted name in ${text}`);
      parts.push(value);
    } else {
      let end = input.indexOf('.', i);
      if (end === -1) end = input.length;
      const raw = input.slice(i, end).trim();
      if (raw === '') throw new IdentifierError(`empty name part in ${text}`);
      if (raw.includes('"')) throw new IdentifierError(`misplaced quote in ${text}`);
      parts.push(raw.toLowerCase());
      i = end;
    }
    if (i >= input.length) break;
    if (input[i] !== '.') throw new IdentifierError(`expected '.' after a quoted name in ${text}`);
    i += 1;
    if (i >= input.length) throw new IdentifierError(`name ends with '.' in ${text}`);
  }
  return parts;
}

/** `schema.table` or `table` (schema public). */
export function parseQualifiedName(text: string): TableRef {
  const parts = splitIdentifier(text);
  if (parts.length === 1) return { schema: 'public', name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  throw new IdentifierError(`${text} has ${parts.length} parts; expected table or schema.table`);
}

/** One column name. */
export function parseColumnName(text: string): string {
  const parts = splitIdentifier(text);
  if (parts.length !== 1) throw new IdentifierError(`${text} is not a single column name`);
  return parts[0]!;
}

/** Double-quotes an identifier for SQL, doubling inner quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The name as Postgres would print it: quoted only where it must be. */
export function displayIdent(name: string): string {
  return PLAIN.test(name) && !RESERVED.has(name) ? name : quoteIdent(name);
}

/** `schema.table` in canonical display form, usable in SQL. */
export function formatQualifiedName(ref: TableRef): string {
  return `${displayIdent(ref.schema)}.${displayIdent(ref.name)}`;
}

/** A stable map key for a table. */
export function tableKey(ref: TableRef): string {
  return formatQualifiedName(ref);
}
