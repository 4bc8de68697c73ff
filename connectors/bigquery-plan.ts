import type { BqTarget } from '../src/catalog/sinks.js';

/** One parameterized DML statement and the counting query that judges it. Pure. */
export interface BigQueryPlan {
  table: string;
  /** The mutating statement (DELETE or UPDATE). */
  dml: string;
  /** Counts, per subject id, the rows that still need erasing; run before and after the DML. */
  count: string;
  params: Record<string, unknown>;
}

const HASHED = String.raw`r'^[0-9a-f]{64}$'`;

/** Joins a composite key's values into the id a composite match compares with (see planBigQuery). */
export const COMPOSITE_SEPARATOR = '\u001f';

/** The id of a subject in BigQuery statements, or undefined when a value holds the separator. */
export function bigQueryId(values: readonly string[]): string | undefined {
  if (values.length === 1) return values[0];
  return values.some((v) => v.includes(COMPOSITE_SEPARATOR)) ? undefined : values.join(COMPOSITE_SEPARATOR);
}

/**
 * Splits subject ids into statements of at most `maxSubjects` each (one statement per chunk per
 * table: BigQuery caps concurrent DML per table, so many subjects share a statement), and builds
 * each statement. `matchType` is the match column's BigQuery type: ids travel as strings and are
 * cast on the parameter side, so the column itself stays uncast (partition and cluster pruning).
 * A composite match (a column per key column) compares the columns, cast to strings and joined
 * by a separator (a parameter), with ids joined the same way (`bigQueryId`).
 */
export function planBigQuery(projectId: string, target: BqTarget, ids: readonly string[], maxSubjects: number, matchType = 'STRING'): BigQueryPlan[] {
  const table = `\`${projectId}.${target.table}\``;
  const composite = target.match.length > 1;
  const columns = target.match.map((c) => `\`${c}\``);
  const match = composite ? `CONCAT(${columns.map((c) => `CAST(${c} AS STRING)`).join(', @sep, ')})` : columns[0]!;
  const idSet = composite || matchType === 'STRING' ? 'UNNEST(@ids)' : `(SELECT CAST(id AS ${matchType}) FROM UNNEST(@ids) AS id)`;
  const literals: Record<string, unknown> = composite ? { sep: COMPOSITE_SEPARATOR } : {};
  let pending = 'TRUE';
  let dml: string;
  if (target.action.kind === 'delete') {
    dml = `DELETE FROM ${table} WHERE ${match} IN ${idSet}`;
  } else {
    const sets: string[] = [];
    const still: string[] = [];
    for (const [column, replacement] of Object.entries(target.action.columns)) {
      const c = `\`${column}\``;
      if (replacement === null) {
        sets.push(`${c} = NULL`);
        still.push(`${c} IS NOT NULL`);
      } else if (replacement === 'hash') {
        sets.push(`${c} = TO_HEX(SHA256(${c}))`);
        // A value already shaped like a SHA-256 hex digest is taken as anonymized: applying the
        // same erasure twice must not hash the hash.
        still.push(`(${c} IS NOT NULL AND NOT REGEXP_CONTAINS(${c}, ${HASHED}))`);
      } else {
        const name = `v_${column}`;
        literals[name] = replacement;
        sets.push(`${c} = @${name}`);
        still.push(`${c} IS DISTINCT FROM @${name}`);
      }
    }
    pending = `(${still.join(' OR ')})`;
    dml = `UPDATE ${table} SET ${sets.join(', ')} WHERE ${match} IN ${idSet} AND ${pending}`;
  }
  const count = `SELECT ${composite ? match : `CAST(${match} AS STRING)`} AS id, COUNT(*) AS n FROM ${table} WHERE ${match} IN ${idSet} AND ${pending} GROUP BY id`;
  const plans: BigQueryPlan[] = [];
  for (let i = 0; i < ids.length; i += maxSubjects) {
    plans.push({ table: target.table, dml, count, params: { ids: ids.slice(i, i + maxSubjects), ...literals } });
  }
  return plans;
}
