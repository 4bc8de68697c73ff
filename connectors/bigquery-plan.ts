import type { BqReplacement, BqTarget } from '../src/catalog/sinks.js';
import { PSEUDONYMIZED_SHAPE } from '../src/catalog/pseudonymization.js';
import { canonicalKey, sqlOf, unmatchableReason } from './bigquery-values.js';

/** One subject to erase: its id in results, and its key values in the order of the target's match columns. */
export interface BigQuerySubject {
  id: string;
  values: readonly string[];
}

/** A query reading the distinct old values of an `hmac` column still to pseudonymize in the statement's rows. */
export interface HmacRead {
  column: string;
  keyId: string;
  query: string;
  /** The parameters the connector fills with the old values and their pseudonyms, in the same order. */
  olds: string;
  pseudonyms: string;
}

/** One parameterized DML statement, the counting query that judges it, and the reads it needs first. Pure. */
export interface BigQueryPlan {
  table: string;
  /** The mutating statement (DELETE or UPDATE). */
  dml: string;
  /** Counts the rows that still need erasing, per subject by its offset in `ids` (`lethe_i`); run before and after the DML. */
  count: string;
  reads: HmacRead[];
  /** The statement's subjects, in the order of the key parameters. */
  ids: string[];
  params: Record<string, unknown>;
  types: Record<string, unknown>;
}

export interface BigQueryPlanning {
  plans: BigQueryPlan[];
  /** Subjects no statement takes: a key value not in its column type's canonical form, with the error. */
  refused: Map<string, string>;
}

/** The id of a subject in BigQuery results: its one key value, or its values as JSON for a composite key. */
export function bigQueryId(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : JSON.stringify(values);
}

const HASHED = String.raw`^[0-9a-f]{64}$`;
const rawString = (pattern: string) => `r'${pattern}'`;
const quote = (name: string) => `\`${name}\``;

/**
 * Why the target cannot be erased exactly with these column types (a missing or unmatchable match
 * column, a pseudonymized column that is not a STRING), naming table and column; undefined when
 * it can. `types` maps the table's columns to their standard SQL types.
 */
export function columnProblem(target: BqTarget, types: ReadonlyMap<string, string>): string | undefined {
  const missing = target.match.filter((m) => !types.has(m));
  if (target.action.kind === 'anonymize') missing.push(...Object.keys(target.action.columns).filter((c) => !types.has(c)));
  if (missing.length > 0) return `table ${target.table} has no column ${missing.join(', ')}`;
  for (const column of target.match) {
    const reason = unmatchableReason(types.get(column)!);
    if (reason) return `table ${target.table} column ${column}: ${reason}`;
  }
  if (target.action.kind === 'anonymize') {
    for (const [column, r] of Object.entries(target.action.columns)) {
      if ((r.kind === 'hash' || r.kind === 'hmac') && types.get(column) !== 'STRING') {
        return `table ${target.table} column ${column}: ${r.kind} needs a STRING column, not ${types.get(column)}`;
      }
    }
  }
  return undefined;
}

/**
 * Splits subjects into statements of at most `maxSubjects` each (one statement per chunk per
 * table: BigQuery caps concurrent DML per table, so many subjects share a statement), and builds
 * each. Every key value is checked against its column's canonical form first (bigquery-values.ts);
 * a subject with one that is not is refused, never coerced. Keys travel as one ARRAY<STRING> per
 * match column (@k0, @k1, …, the same offset naming one subject) and are converted to the
 * column's type on the parameter side, so the column stays uncast (partition and cluster pruning)
 * and each column of a composite match is compared in its own type: no joined text that two
 * different keys could share. `types` must pass `columnProblem`.
 */
export function planBigQuery(projectId: string, target: BqTarget, subjects: readonly BigQuerySubject[], maxSubjects: number, types: ReadonlyMap<string, string>): BigQueryPlanning {
  const matchTypes = target.match.map((c) => types.get(c)!);
  const refused = new Map<string, string>();
  const accepted: Array<{ id: string; texts: string[] }> = [];
  for (const s of subjects) {
    const texts: string[] = [];
    for (const [i, column] of target.match.entries()) {
      const key = canonicalKey(matchTypes[i]!, s.values[i] ?? '');
      if ('error' in key) {
        refused.set(s.id, `table ${target.table} column ${column}: ${key.error}`);
        break;
      }
      texts.push(key.text);
    }
    if (!refused.has(s.id)) accepted.push({ id: s.id, texts });
  }
  const statement = statementOf(`\`${projectId}.${target.table}\``, target, matchTypes);
  const plans: BigQueryPlan[] = [];
  for (let i = 0; i < accepted.length; i += maxSubjects) {
    const chunk = accepted.slice(i, i + maxSubjects);
    const keys = Object.fromEntries(target.match.map((_, c) => [`k${c}`, chunk.map((s) => s.texts[c]!)]));
    plans.push({ table: target.table, ...statement, ids: chunk.map((s) => s.id), params: { ...keys, ...statement.params }, types: statement.types });
  }
  return { plans, refused };
}

function statementOf(table: string, target: BqTarget, matchTypes: readonly string[]): Pick<BigQueryPlan, 'dml' | 'count' | 'reads' | 'params' | 'types'> {
  const columns = target.match.map(quote);
  const keyTypes = Object.fromEntries(columns.map((_, c) => [`k${c}`, ['STRING']]));
  // The key of offset __lethe_i in column c's type. Aliases are prefixed so no table column shadows them.
  const keyAt = (c: number) => sqlOf(matchTypes[c]!, c === 0 ? '__lethe_k' : `@k${c}[OFFSET(__lethe_i)]`);
  const match =
    columns.length === 1
      ? `${columns[0]} IN (SELECT ${keyAt(0)} FROM UNNEST(@k0) AS __lethe_k)`
      : `EXISTS (SELECT 1 FROM UNNEST(@k0) AS __lethe_k WITH OFFSET AS __lethe_i WHERE ${columns.map((col, c) => `${col} = ${keyAt(c)}`).join(' AND ')})`;
  const keyRows = `SELECT __lethe_i, ${columns.map((_, c) => `${keyAt(c)} AS __lethe_c${c}`).join(', ')} FROM UNNEST(@k0) AS __lethe_k WITH OFFSET AS __lethe_i`;
  const joinOn = columns.map((col, c) => `${col} = __lethe_key.__lethe_c${c}`).join(' AND ');
  const countOf = (pending: string) =>
    `SELECT __lethe_key.__lethe_i AS lethe_i, COUNT(*) AS n FROM ${table} JOIN (${keyRows}) AS __lethe_key ON ${joinOn} WHERE ${pending} GROUP BY __lethe_key.__lethe_i`;
  if (target.action.kind === 'delete') {
    return { dml: `DELETE FROM ${table} WHERE ${match}`, count: countOf('TRUE'), reads: [], params: {}, types: keyTypes };
  }
  const params: Record<string, unknown> = {};
  const types: Record<string, unknown> = { ...keyTypes };
  const sets: string[] = [];
  const still: string[] = [];
  const reads: HmacRead[] = [];
  Object.entries(target.action.columns).forEach(([column, replacement], i) => {
    const c = quote(column);
    const pending = pendingOf(c, replacement, `v${i}`);
    still.push(pending);
    if (replacement.kind === 'null') sets.push(`${c} = NULL`);
    else if (replacement.kind === 'literal') {
      params[`v${i}`] = replacement.value;
      sets.push(`${c} = @v${i}`);
    } else if (replacement.kind === 'hash') {
      // Only a value not yet hashed: the row may be matched for another column still to erase.
      sets.push(`${c} = IF(${pending}, TO_HEX(SHA256(${c})), ${c})`);
    } else {
      // BigQuery has no HMAC: Lethe reads the old values, computes their pseudonyms and passes
      // both as arrays; a value written since the read has no pseudonym, is kept, and counts as residual.
      Object.assign(params, { [`o${i}`]: [], [`h${i}`]: [] });
      Object.assign(types, { [`o${i}`]: ['STRING'], [`h${i}`]: ['STRING'] });
      sets.push(`${c} = IFNULL((SELECT @h${i}[OFFSET(__lethe_j)] FROM UNNEST(@o${i}) AS __lethe_o WITH OFFSET AS __lethe_j WHERE __lethe_o = ${c}), ${c})`);
      reads.push({ column, keyId: replacement.keyId, query: `SELECT DISTINCT ${c} AS lethe_old FROM ${table} WHERE ${match} AND ${pending}`, olds: `o${i}`, pseudonyms: `h${i}` });
    }
  });
  const pending = `(${still.join(' OR ')})`;
  return { dml: `UPDATE ${table} SET ${sets.join(', ')} WHERE ${match} AND ${pending}`, count: countOf(pending), reads, params, types };
}

/** The condition under which a column still holds what the replacement must erase. */
function pendingOf(c: string, replacement: BqReplacement, param: string): string {
  switch (replacement.kind) {
    case 'null':
      return `${c} IS NOT NULL`;
    case 'literal':
      return `${c} IS DISTINCT FROM @${param}`;
    case 'hash':
      // A value already shaped like a SHA-256 hex digest is taken as done: applying the same
      // erasure twice must not hash the hash.
      return `(${c} IS NOT NULL AND NOT REGEXP_CONTAINS(${c}, ${rawString(HASHED)}))`;
    case 'hmac':
      // Any key's pseudonym is done: after a rotation, old pseudonyms keep the id of their key.
      return `(${c} IS NOT NULL AND NOT REGEXP_CONTAINS(${c}, ${rawString(PSEUDONYMIZED_SHAPE)}))`;
  }
}
