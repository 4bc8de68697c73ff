import type { BigQuery } from '@google-cloud/bigquery';
import type { BqTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';
import { keyValues } from '../src/events/subject-values.js';
import { createBigQueryClient } from './bigquery-client.js';
import { bigQueryId, planBigQuery, type BigQueryPlan } from './bigquery-plan.js';
import { targetName } from '../src/catalog/targets.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

/** BigQuery runs at most two mutating DML statements per table at once (more queue or fail). */
const MAX_CONCURRENT_DML_PER_TABLE = 2;
const APPROX_EVENT_BYTES = 200;

/**
 * BigQuery: batched DML per target table, `DELETE … WHERE match IN UNNEST(@ids)` or `UPDATE …
 * SET …` (null, a literal, or a SHA-256 hex hash of the old value), verified by counting before
 * and after (the emulator does not report affected rows). Rows still in the streaming buffer
 * cannot be changed yet: that is a deferred result, retried later, not a failure. Deleted data
 * stays reachable through time travel and fail-safe for days; the ack says so.
 */
export class BigQueryConnector implements SinkConnector {
  readonly sink = 'bigquery' as const;
  private readonly bq: BigQuery;
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly matchTypes = new Map<string, string>();
  readonly fetch: { minBytes: number; maxWaitMs: number };
  readonly batchEvents: number;

  constructor(private readonly config: NonNullable<SinksConfig['bigquery']>) {
    this.bq = createBigQueryClient({ projectId: config.projectId, apiEndpoint: config.apiEndpoint });
    // A batch flushes when about maxSubjects events are fetched or maxWaitMs has passed: the
    // broker's own fetch batching (an event is a few hundred bytes).
    this.fetch = { minBytes: config.batch.maxSubjects * APPROX_EVENT_BYTES, maxWaitMs: config.batch.maxWaitMs };
    // One statement per table takes up to maxSubjects: batches of that size, whatever the runner's default.
    this.batchEvents = config.batch.maxSubjects;
  }

  handles(subjectType: string): boolean {
    return this.config.subjects.has(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    const out: TargetResult[][] = events.map(() => []);
    for (const [type, targets] of this.config.subjects) {
      const positions = events.map((e, i) => [e, i] as const).filter(([e]) => e.subjectType === type);
      if (positions.length === 0) continue;
      const idOf = new Map(positions.map(([e]) => [e, bigQueryId(keyValues(e))] as const));
      const ids = [...new Set([...idOf.values()].filter((id) => id !== undefined))];
      for (const target of targets) {
        const perId = ids.length > 0 ? await this.eraseTargetOrFail(target, ids) : new Map<string, Omit<TargetResult, 'target'>>();
        // Events of one subject in a batch (the parts of one erasure) erased its rows once: the
        // first is credited with them, so the parts' counts add up.
        const credited = new Set<string>();
        for (const [event, i] of positions) {
          const id = idOf.get(event);
          const result = id === undefined ? { affected: 0, residual: 0, failed: `event ${event.eventId}: a key value holds the control character U+001F, which composite matches use as separator` } : perId.get(id)!;
          const first = id === undefined || !credited.has(id);
          if (id !== undefined) credited.add(id);
          out[i]!.push({ target: targetName.bqTable(target.table), ...result, ...(first ? {} : { affected: 0 }) });
        }
      }
    }
    return out;
  }

  /** A target no retry can fix (no such table or column, a rejected statement) fails alone: the event's other targets still apply. */
  private async eraseTargetOrFail(target: BqTarget, ids: string[]): Promise<Map<string, Omit<TargetResult, 'target'>>> {
    try {
      return await this.eraseTarget(target, ids);
    } catch (error) {
      const e = translate(error);
      if (e.retriable) throw e;
      return new Map(ids.map((id) => [id, { affected: 0, residual: 0, failed: e.message }]));
    }
  }

  private async eraseTarget(target: BqTarget, ids: string[]): Promise<Map<string, Omit<TargetResult, 'target'>>> {
    const results = new Map<string, Omit<TargetResult, 'target'>>();
    const details = { retention: 'deleted rows stay reachable through time travel (up to 7 days) and fail-safe (7 more days)' };
    const plans = planBigQuery(this.config.projectId, target, ids, this.config.batch.maxSubjects, await this.matchType(target));
    await Promise.all(
      plans.map(async (plan) => {
        const chunk = plan.params.ids as string[];
        const before = await this.counts(plan);
        try {
          await this.withTableSlot(plan.table, () => this.query(plan.dml, plan.params));
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (/streaming buffer/i.test(message)) {
            for (const id of chunk) results.set(id, { affected: 0, residual: before.get(id) ?? 0, deferred: `rows in the streaming buffer cannot be changed yet: ${message}`, details });
            return;
          }
          throw translate(error);
        }
        const after = await this.counts(plan);
        for (const id of chunk) {
          const b = before.get(id) ?? 0;
          const a = after.get(id) ?? 0;
          results.set(id, { affected: Math.max(0, b - a), residual: a, details });
        }
      }),
    );
    return results;
  }

  private async counts(plan: BigQueryPlan): Promise<Map<string, number>> {
    const [rows] = await this.query(plan.count, plan.params);
    return new Map((rows as Array<{ id: string; n: number }>).map((r) => [r.id, Number(r.n)]));
  }

  private async query(query: string, params: Record<string, unknown>): Promise<[unknown[]]> {
    try {
      const [rows] = await this.bq.query({ query, params });
      return [rows];
    } catch (error) {
      if (/streaming buffer/i.test(String((error as Error)?.message))) throw error;
      throw translate(error);
    }
  }

  /** The (first) match column's type, read once per table from its schema, which must have every match column. */
  private async matchType(target: BqTarget): Promise<string> {
    const key = `${target.table}.${target.match.join(',')}`;
    const known = this.matchTypes.get(key);
    if (known) return known;
    const [dataset, table] = target.table.split('.') as [string, string];
    let type = 'STRING';
    try {
      const [metadata] = await this.bq.dataset(dataset).table(table).getMetadata();
      const fields = (metadata.schema?.fields ?? []) as Array<{ name?: string; type?: string }>;
      const missing = target.match.filter((m) => !fields.some((f) => f.name === m));
      if (missing.length > 0) throw new LetheError('BIGQUERY_SCHEMA', `table ${target.table} has no column ${missing.join(', ')}`);
      const field = fields.find((f) => f.name === target.match[0])!;
      type = field.type === 'INTEGER' ? 'INT64' : field.type === 'FLOAT' ? 'FLOAT64' : (field.type ?? 'STRING');
    } catch (error) {
      if ((error as { code?: number }).code === 404) return 'STRING'; // no table: the count finds nothing
      throw translate(error);
    }
    this.matchTypes.set(key, type);
    return type;
  }

  private async withTableSlot<T>(table: string, work: () => Promise<T>): Promise<T> {
    while ((this.running.get(table) ?? 0) >= MAX_CONCURRENT_DML_PER_TABLE) {
      await new Promise<void>((resolve) => this.waiting.set(table, [...(this.waiting.get(table) ?? []), resolve]));
    }
    this.running.set(table, (this.running.get(table) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.running.set(table, (this.running.get(table) ?? 1) - 1);
      this.waiting.get(table)?.shift()?.();
    }
  }

  async close(): Promise<void> {}
}

/**
 * BigQuery errors in one place: rate and quota limits, server errors, refused credentials
 * (401/403, fixed by an operator for every record at once) and anything without an HTTP status
 * (the endpoint unreachable, a socket reset) are a wait; a statement BigQuery refuses (no
 * such table or column, a bad query) is the record's own fault: no retry can succeed.
 */
export function translate(error: unknown): LetheError {
  if (error instanceof LetheError) return error;
  // A bug in the connector is neither an outage nor the record's fault: never waited on.
  if (errorKind(error) === 'programmer') return new InvariantError(`bigquery connector: ${reasonOf(error)}`, { cause: error });
  const code = (error as { code?: unknown } | null | undefined)?.code;
  const status = typeof code === 'number' ? code : 0;
  const message = reasonOf(error);
  if (status === 0 || status === 401 || status === 403 || status === 408 || status === 429 || status >= 500 || /rateLimitExceeded|quotaExceeded|backendError|concurrent update/i.test(message)) {
    return new ServiceUnavailableError('bigquery', message, { cause: error });
  }
  return new RecordError('BIGQUERY_REJECTED', `bigquery: ${message}`, { cause: error });
}
