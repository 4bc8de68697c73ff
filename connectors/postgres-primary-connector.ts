import pg from 'pg';
import type { Catalog, ErasureRule, SubjectType } from '../src/catalog/catalog.js';
import { formatQualifiedName, quoteIdent, type TableRef } from '../src/catalog/identifiers.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { ServiceUnavailableError } from '../src/errors.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

const sqlTable = (t: TableRef) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
const matchColumns = (columns: string[], from: number) => columns.map((c, i) => `${quoteIdent(c)} = $${from + i}`).join(' AND ');

/**
 * The primary database as a replay target, after it was restored from a backup: re-applies each
 * erasure as far as the catalog describes it. A deleted subject is deleted again, with the rows of
 * its related tables (by the subject's key columns); what the application anonymized in place
 * cannot be re-derived from the catalog, so a row that does not look erased (per `erasedWhen`) is
 * reported failed, naming the table, instead of being guessed at. One transaction per erasure.
 */
export class PrimaryConnector implements SinkConnector {
  readonly sink = 'primary' as const;
  private readonly pool: pg.Pool;
  private readonly subjects: Map<string, SubjectType>;

  constructor(catalog: Catalog) {
    // One connection per apply the runner may make at once (its partitions in parallel), and one more.
    this.pool = new pg.Pool({ connectionString: catalog.source.url, max: catalog.sinks.settings.partitionsInParallel + 1, connectionTimeoutMillis: 10_000 });
    this.pool.on('error', () => undefined);
    this.subjects = new Map(catalog.subjects.map((s) => [s.type, s]));
  }

  handles(subjectType: string): boolean {
    return this.subjects.has(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    const out: TargetResult[][] = [];
    for (const event of events) out.push(await this.applyOne(event, this.subjects.get(event.subjectType)!));
    return out;
  }

  private async applyOne(event: SubjectErased, subject: SubjectType): Promise<TargetResult[]> {
    const byColumn = new Map(event.subjectKey.map((k) => [k.column, k.value]));
    const values = subject.key.map((c) => byColumn.get(c));
    if (values.some((v) => v === undefined)) {
      return [{ target: `table ${formatQualifiedName(subject.table)}`, affected: 0, residual: 0, failed: `event ${event.eventId} lacks key column(s) of ${subject.type}: has ${[...byColumn.keys()].join(', ')}` }];
    }
    let db: pg.PoolClient;
    try {
      db = await this.pool.connect();
    } catch (error) {
      throw new ServiceUnavailableError('postgres', `connecting to the primary: ${(error as Error).message}`, { cause: error });
    }
    const results: TargetResult[] = [];
    try {
      await db.query('BEGIN');
      if (event.operation === 'DELETE') {
        // Children first, so a foreign key without ON DELETE CASCADE does not refuse the root.
        for (const related of subject.related) {
          const name = formatQualifiedName(related.table);
          const target = `table ${name}`;
          if (event.related.some((r) => r.table === name && r.operation === 'UPDATE')) {
            results.push({ target, affected: 0, residual: 0, failed: `rows of ${name} were updated in place at erasure time; the catalog does not describe how, so replay cannot redo it` });
            continue;
          }
          const where = matchColumns(related.subjectColumns, 1);
          const deleted = await db.query(`DELETE FROM ${sqlTable(related.table)} WHERE ${where}`, values);
          const left = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sqlTable(related.table)} WHERE ${where}`, values);
          results.push({ target, affected: deleted.rowCount ?? 0, residual: Number(left.rows[0]!.n) });
        }
        const where = matchColumns(subject.key, 1);
        const deleted = await db.query(`DELETE FROM ${sqlTable(subject.table)} WHERE ${where}`, values);
        const left = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sqlTable(subject.table)} WHERE ${where}`, values);
        results.push({ target: `table ${formatQualifiedName(subject.table)}`, affected: deleted.rowCount ?? 0, residual: Number(left.rows[0]!.n) });
      } else {
        results.push(await this.checkAnonymized(db, subject, values as string[]));
      }
      await db.query('COMMIT');
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      db.release();
    }
    return results;
  }

  /** An anonymized subject: fine if the restored row already looks erased, failed if it does not. */
  private async checkAnonymized(db: pg.PoolClient, subject: SubjectType, values: string[]): Promise<TargetResult> {
    const target = `table ${formatQualifiedName(subject.table)}`;
    const params: unknown[] = [...values];
    const conditions = subject.erasedWhen.filter((r): r is Extract<ErasureRule, { kind: 'update' }> => r.kind === 'update').map((rule) => {
      const column = quoteIdent(rule.column);
      if (rule.becomes.kind === 'not_null') return `${column} IS NOT NULL`;
      if (rule.becomes.kind === 'null') return `${column} IS NULL`;
      params.push(String(rule.becomes.value));
      return `${column} = $${params.length}`;
    });
    const erased = conditions.length > 0 ? `(${conditions.join(' OR ')})` : 'false';
    const rows = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sqlTable(subject.table)} WHERE ${matchColumns(subject.key, 1)} AND NOT coalesce(${erased}, false)`, params);
    const residual = Number(rows.rows[0]!.n);
    if (residual === 0) return { target, affected: 0, residual: 0 };
    return { target, affected: 0, residual, failed: `the restored row is not anonymized and the catalog does not describe how the application anonymizes ${formatQualifiedName(subject.table)}; re-run its anonymization for this subject` };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
