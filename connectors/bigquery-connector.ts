import type { BigQuery } from '@google-cloud/bigquery';
import type { BqTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';
import { keyValues } from '../src/events/subject-values.js';
import { createBigQueryClient } from './bigquery-client.js';
import { bigQueryId, columnProblem, planBigQuery, type BigQueryPlan, type BigQuerySubject } from './bigquery-plan.js';
import { standardType } from './bigquery-values.js';
import { pseudonymOf, readHmacKey } from '../src/catalog/pseudonymization.js';
import { targetName } from '../src/catalog/targets.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

/** BigQuery runs at most two mutating DML statements per table at once (more queue or fail). */
const MAX_CONCURRENT_DML_PER_TABLE = 2;
const APPROX_EVENT_BYTES = 200;

/**
 * BigQuery: batched DML per target table, `DELETE … WHERE match IN (…@k0…)` or `UPDATE … SET …`
 * (null, a literal, a SHA-256 hex hash or an HMAC-SHA256 pseudonym of the old value), each match
 * column compared in its own type with keys in their canonical form (bigquery-plan.ts), verified
 * by counting before and after per subject (the emulator does not report affected rows). Rows
 * still in the streaming buffer cannot be changed yet: that is a deferred result, retried later,
 * not a failure. Deleted data stays reachable through time travel and fail-safe for days; the ack
 * says so. Old values read to pseudonymize are never logged nor put in an ack.
 */
export class BigQueryConnector implements SinkConnector {
  readonly sink = 'bigquery' as const;
  private readonly bq: BigQuery;
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly columnTypes = new Map<string, ReadonlyMap<string, string>>();
  private readonly hmacKeys = new Map<string, Buffer>();
  readonly fetch: { minBytes: number; maxWaitMs: number };
  readonly batchEvents: number;

  constructor(
    private readonly config: NonNullable<SinksConfig['bigquery']>,
    env: Record<string, string | undefined> = process.env,
  ) {
    // A target that pseudonymizes with a key that is not there refuses to start, naming the variable.
    for (const targets of config.subjects.values()) {
      for (const t of targets) {
        if (t.action.kind !== 'anonymize') continue;
        for (const r of Object.values(t.action.columns)) if (r.kind === 'hmac' && !this.hmacKeys.has(r.keyId)) this.hmacKeys.set(r.keyId, readHmacKey(r.keyId, env));
      }
    }
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
      const subjects = [...new Map(positions.map(([e]) => [idOf.get(e)!, { id: idOf.get(e)!, values: keyValues(e) }])).values()];
      for (const target of targets) {
        const perId = await this.eraseTargetOrFail(target, subjects);
        // Events of one subject in a batch (the parts of one erasure) erased its rows once: the
        // first is credited with them, so the parts' counts add up.
        const credited = new Set<string>();
        for (const [event, i] of positions) {
          const id = idOf.get(event)!;
          const first = !credited.has(id);
          credited.add(id);
          out[i]!.push({ target: targetName.bqTable(target.table), ...perId.get(id)!, ...(first ? {} : { affected: 0 }) });
        }
      }
    }
    return out;
  }

  /** A target no retry can fix (no such table or column, a rejected statement) fails alone: the event's other targets still apply. */
  private async eraseTargetOrFail(target: BqTarget, subjects: BigQuerySubject[]): Promise<Map<string, Omit<TargetResult, 'target'>>> {
    try {
      return await this.eraseTarget(target, subjects);
    } catch (error) {
      const e = translate(error);
      if (e.retriable) throw e;
      return new Map(subjects.map((s) => [s.id, { affected: 0, residual: 0, failed: e.message }]));
    }
  }

  private async eraseTarget(target: BqTarget, subjects: BigQuerySubject[]): Promise<Map<string, Omit<TargetResult, 'target'>>> {
    const results = new Map<string, Omit<TargetResult, 'target'>>();
    const details = { retention: 'deleted rows stay reachable through time travel (up to 7 days) and fail-safe (7 more days)' };
    const types = await this.tableColumns(target.table);
    const problem = columnProblem(target, types);
    if (problem) throw new RecordError('BIGQUERY_SCHEMA', problem);
    const { plans, refused } = planBigQuery(this.config.projectId, target, subjects, this.config.batch.maxSubjects, types);
    for (const [id, error] of refused) results.set(id, { affected: 0, residual: 0, failed: error });
    await Promise.all(
      plans.map(async (plan) => {
        const before = await this.counts(plan);
        try {
          const params = await this.withPseudonyms(plan);
          await this.withTableSlot(plan.table, () => this.query(plan.dml, params, plan.types));
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (/streaming buffer/i.test(message)) {
            for (const [i, id] of plan.ids.entries()) results.set(id, { affected: 0, residual: before[i] ?? 0, deferred: `rows in the streaming buffer cannot be changed yet: ${message}`, details });
            return;
          }
          throw translate(error);
        }
        const after = await this.counts(plan);
        for (const [i, id] of plan.ids.entries()) {
          const b = before[i] ?? 0;
          const a = after[i] ?? 0;
          results.set(id, { affected: Math.max(0, b - a), residual: a, details });
        }
      }),
    );
    return results;
  }

  /** The plan's parameters with each hmac column's old values and their pseudonyms (computed here: BigQuery has no HMAC). */
  private async withPseudonyms(plan: BigQueryPlan): Promise<Record<string, unknown>> {
    const params = { ...plan.params };
    for (const read of plan.reads) {
      const [rows] = await this.query(read.query, plan.params, plan.types);
      const olds = (rows as Array<{ lethe_old: string }>).map((r) => r.lethe_old);
      const key = this.hmacKeys.get(read.keyId)!;
      params[read.olds] = olds;
      params[read.pseudonyms] = olds.map((old) => pseudonymOf(read.keyId, key, old));
    }
    return params;
  }

  /** Rows still to erase, per subject by its offset in the plan's ids. */
  private async counts(plan: BigQueryPlan): Promise<number[]> {
    const [rows] = await this.query(plan.count, plan.params, plan.types);
    const out: number[] = [];
    for (const r of rows as Array<{ lethe_i: number; n: number }>) out[Number(r.lethe_i)] = Number(r.n);
    return out;
  }

  /** Runs a query with the parameters its text names (a parameter a statement does not use is not sent). */
  private async query(query: string, params: Record<string, unknown>, types: Record<string, unknown>): Promise<[unknown[]]> {
    const used = new Set([...query.matchAll(/@([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    const pick = (from: Record<string, unknown>) => Object.fromEntries(Object.entries(from).filter(([name]) => used.has(name)));
    try {
      const [rows] = await this.bq.query({ query, params: pick(params), types: pick(types) as Record<string, string[]> });
      return [rows];
    } catch (error) {
      if (/streaming buffer/i.test(String((error as Error)?.message))) throw error;
      throw translate(error);
    }
  }

  /** The table's columns and their standard SQL types, read once per table from its schema. */
  private async tableColumns(tableName: string): Promise<ReadonlyMap<string, string>> {
    const known = this.columnTypes.get(tableName);
    if (known) return known;
    const [dataset, table] = tableName.split('.') as [string, string];
    let types: Map<string, string>;
    try {
      const [metadata] = await this.bq.dataset(dataset).table(table).getMetadata();
      const fields = (metadata.schema?.fields ?? []) as Array<{ name?: string; type?: string; mode?: string; collation?: string }>;
      types = new Map(fields.filter((f) => f.name).map((f) => [f.name!, standardType(f.type, f.mode, f.collation)]));
    } catch (error) {
      if ((error as { code?: number }).code === 404) throw new RecordError('BIGQUERY_SCHEMA', `table ${tableName} not found`);
      throw translate(error);
    }
    this.columnTypes.set(tableName, types);
    return types;
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
