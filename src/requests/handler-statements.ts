import type { ErasureRule, RequestHandler } from '../catalog/catalog.js';
import { quoteIdent, type TableRef } from '../catalog/identifiers.js';
import { PSEUDONYMIZED_SHAPE } from '../catalog/pseudonymization.js';

/**
 * The statements of one request handler, as text and parameters. Pure. A row is the subject's
 * when each subject column equals the key's value both as the column's type (so an index serves
 * the lookup) and as text (so the match is exact: `042` never matches the bigint 42, and a key
 * is compared as PostgreSQL prints it, as events carry it). Identifiers are quoted, never
 * interpolated; values are parameters.
 */

export interface Statement {
  text: string;
  values: unknown[];
}

/** A value already shaped like a SHA-256 hex digest counts as hashed: applying it again must not hash the hash. */
const HASHED = String.raw`^[0-9a-f]{64}$`;

export const sqlTable = (t: TableRef) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/** The exact match of the subject's rows (see above), its values pushed onto `values_`; also the access export's. */
export function match(columns: readonly string[], values: readonly string[], values_: unknown[]): string {
  return columns
    .map((column, i) => {
      values_.push(values[i], values[i]);
      const c = quoteIdent(column);
      return `${c} = $${values_.length - 1} AND ${c}::text = $${values_.length}`;
    })
    .join(' AND ');
}

export function deleteStatement(handler: RequestHandler, key: readonly string[]): Statement {
  const values: unknown[] = [];
  return { text: `DELETE FROM ${sqlTable(handler.table)} WHERE ${match(handler.subjectColumns, key, values)}`, values };
}

export function countStatement(table: TableRef, subjectColumns: readonly string[], key: readonly string[]): Statement {
  const values: unknown[] = [];
  return { text: `SELECT count(*)::int AS n FROM ${sqlTable(table)} WHERE ${match(subjectColumns, key, values)}`, values };
}

/** The columns an anonymize pseudonymizes with hmac: their old values are read (and the rows locked) first. */
export function hmacColumns(handler: RequestHandler): string[] {
  if (handler.action.kind !== 'anonymize') return [];
  return Object.entries(handler.action.columns).filter(([, r]) => r.kind === 'hmac').map(([column]) => column);
}

/** The subject's rows' current values of `columns` (as text), locking the rows until the update. */
export function hmacReadStatement(handler: RequestHandler, key: readonly string[], columns: readonly string[]): Statement {
  const values: unknown[] = [];
  const list = columns.map((c, i) => `${quoteIdent(c)}::text AS v${i}`).join(', ');
  return { text: `SELECT ${list} FROM ${sqlTable(handler.table)} WHERE ${match(handler.subjectColumns, key, values)} FOR UPDATE`, values };
}

/** The old values that still need a pseudonym: not NULL and not already one (of any key). */
export function needsPseudonym(value: string | null): value is string {
  return value !== null && !new RegExp(PSEUDONYMIZED_SHAPE).test(value);
}

/**
 * The anonymize update. `pseudonyms`: per hmac column, old value -> pseudonym (computed by the
 * caller: core PostgreSQL has no HMAC). `mark`: the root's erasedWhen update rule, whose column is
 * set too so the CDC reader sees the erasure (not_null -> now(), equals -> the value, null -> NULL).
 */
export function anonymizeStatement(
  handler: RequestHandler,
  key: readonly string[],
  pseudonyms: ReadonlyMap<string, ReadonlyMap<string, string>>,
  mark?: Extract<ErasureRule, { kind: 'update' }>,
): Statement {
  if (handler.action.kind !== 'anonymize') throw new TypeError(`${handler.path} is not an anonymize handler`);
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const sets = Object.entries(handler.action.columns).map(([column, r]) => {
    const c = quoteIdent(column);
    switch (r.kind) {
      case 'null':
        return `${c} = NULL`;
      case 'literal':
        return `${c} = ${param(typeof r.value === 'boolean' ? String(r.value) : r.value)}`;
      case 'hash':
        return `${c} = CASE WHEN ${c} IS NULL OR ${c}::text ~ ${param(HASHED)} THEN ${c} ELSE encode(sha256(convert_to(${c}::text, 'UTF8')), 'hex') END`;
      case 'hmac': {
        const map = pseudonyms.get(column) ?? new Map<string, string>();
        const olds = param([...map.keys()]);
        const news = param([...map.values()]);
        // A value without a pseudonym (NULL, or already one) is left as it is.
        return `${c} = coalesce((SELECT m.h FROM unnest(${olds}::text[], ${news}::text[]) AS m(o, h) WHERE m.o = ${c}::text), ${c})`;
      }
    }
  });
  if (mark) {
    const c = quoteIdent(mark.column);
    const becomes = mark.becomes;
    sets.push(becomes.kind === 'not_null' ? `${c} = now()` : becomes.kind === 'null' ? `${c} = NULL` : `${c} = ${param(typeof becomes.value === 'boolean' ? String(becomes.value) : becomes.value)}`);
  }
  return { text: `UPDATE ${sqlTable(handler.table)} SET ${sets.join(', ')} WHERE ${match(handler.subjectColumns, key, values)}`, values };
}
