import { Client, errors } from '@elastic/elasticsearch';
import type { EsTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';
import { keyValues } from '../src/events/subject-values.js';
import { targetName } from '../src/catalog/targets.js';
import { readTargetFields, type Resolution, type TargetFields } from './elasticsearch-fields.js';
import { exactSubjects, planSearch, searchBody, tupleKey, type KeyTuple } from './elasticsearch-query.js';
import { ExactSerializer, JsonNumber } from './exact-json.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

const PAGE = 1000;

interface Hit {
  index: string;
  id: string;
  /** The subjects (tupleKey of their key values) the document exactly belongs to. */
  matches: string[];
}
interface Found {
  hits: Hit[];
  /** Candidates the index matched whose own value is not exactly any subject's key: left alone. */
  inexact: number;
  /** Subjects whose key an index cannot match exactly, with the reason. */
  refused: Map<string, string>;
}
interface RawHit {
  _index: string;
  _id?: string;
  _source?: unknown;
  sort?: unknown[];
}

/**
 * Elasticsearch, core APIs only. The match fields are resolved from the mapping of every concrete
 * index the target names (elasticsearch-fields.ts): a keyword, number or boolean field itself, a
 * text field's keyword subfield, and a text field without one is refused. One search per target
 * and batch finds the candidates by term queries on those fields (point in time + search_after
 * past one page); each candidate is then compared with its own `_source` value and only exact
 * matches are deleted (`_bulk`) or anonymized (`_bulk` update to null). Verification runs the same
 * search and comparison after a refresh. A key a numeric field would coerce (`01`), or one longer
 * than a keyword's ignore_above, fails that subject's result for the target. "Nothing to do" is
 * only claimed for an index that exists (a pattern may match none) and maps the match fields.
 */
export class ElasticsearchConnector implements SinkConnector {
  readonly sink = 'elasticsearch' as const;
  private readonly client: Client;
  /** Searches, with numbers in documents kept as written (a long beyond 2^53 compares exactly). */
  private readonly searcher: Client;
  /** Resolved match fields per target; read again when a search meets an index or field they do not cover. */
  private readonly fields = new Map<EsTarget, Resolution>();

  constructor(private readonly config: NonNullable<SinksConfig['elasticsearch']>) {
    this.client = new Client({ node: config.node, maxRetries: 2, requestTimeout: 60_000 });
    this.searcher = new Client({ node: config.node, maxRetries: 2, requestTimeout: 60_000, Serializer: ExactSerializer });
  }

  handles(subjectType: string): boolean {
    return this.config.subjects.has(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    const out: TargetResult[][] = events.map(() => []);
    try {
      for (const [type, targets] of this.config.subjects) {
        const positions = events.map((e, i) => [e, i] as const).filter(([e]) => e.subjectType === type);
        if (positions.length === 0) continue;
        const values = positions.map(([e]) => keyValues(e));
        for (const target of targets) {
          const counts = await this.eraseTarget(target, values);
          const credited = new Set<string>();
          positions.forEach(([, i], n) => {
            // Events of one subject in a batch (the parts of one erasure) erased its documents
            // once: the first is credited with them, so the parts' counts add up.
            const first = !credited.has(tupleKey(values[n]!));
            credited.add(tupleKey(values[n]!));
            out[i]!.push({ target: targetName.esIndex(target.index), ...counts[n]!, ...(first ? {} : { affected: 0 }) });
          });
        }
      }
    } catch (error) {
      throw translate(error);
    }
    return out;
  }

  /** Applies one target to a batch of subjects; returns affected and residual per subject. */
  private async eraseTarget(target: EsTarget, values: KeyTuple[]): Promise<Array<Omit<TargetResult, 'target'>>> {
    const found = await this.find(target, values);
    // A wrong index or field fails this target only; the event's other targets still apply.
    if ('problem' in found) return values.map(() => ({ affected: 0, residual: 0, failed: found.problem }));
    const hits = found.hits.filter((h) => h.matches.length > 0);
    if (hits.length > 0) {
      await this.bulk(target, hits);
      await this.client.indices.refresh({ index: [...new Set(hits.map((h) => h.index))] });
    }
    const left = await this.find(target, values);
    if ('problem' in left) return values.map(() => ({ affected: 0, residual: 0, failed: left.problem }));
    const details = found.inexact > 0 ? { inexact: `${found.inexact} document(s) the index matched for this batch hold no subject's exact key (another case, or another form of the number): left alone` } : undefined;
    return values.map((value) => {
      const key = tupleKey(value);
      const refused = found.refused.get(key);
      return {
        affected: hits.filter((h) => h.matches.includes(key)).length,
        residual: left.hits.filter((h) => h.matches.includes(key)).length,
        ...(refused !== undefined ? { failed: refused } : {}),
        ...(details ? { details } : {}),
      };
    });
  }

  private async bulk(target: EsTarget, hits: Hit[]): Promise<void> {
    const operations =
      target.action.kind === 'delete'
        ? hits.map((h) => ({ delete: { _index: h.index, _id: h.id } }))
        : hits.flatMap((h) => [
            { update: { _index: h.index, _id: h.id } },
            { doc: Object.fromEntries((target.action as { fields: string[] }).fields.map((f) => [f, null])) },
          ]);
    const response = await this.client.bulk({ operations });
    const failures = response.items
      .map((item) => Object.values(item)[0]!)
      // A document deleted meanwhile is what we wanted.
      .filter((r) => r.error && r.status !== 404);
    if (failures.length === 0) return;
    const first = failures[0]!;
    const message = `bulk ${target.action.kind} in ${target.index}: ${failures.length} item(s) failed, first: ${first.error?.type}: ${first.error?.reason}`;
    // Items the store refused for their content are the record's fault; overload or a shard
    // being unavailable is a wait.
    throw failures.every((f) => f.status === 409 || f.status === 429 || f.status >= 500)
      ? new ServiceUnavailableError('elasticsearch', message, { code: 'ELASTICSEARCH_BULK' })
      : new RecordError('ELASTICSEARCH_BULK', message);
  }

  /** The target's fields, resolved from the mapping once and kept while they cover every index. */
  private async resolution(target: EsTarget): Promise<TargetFields> {
    const cached = this.fields.get(target);
    if (cached) return cached;
    const resolved = await readTargetFields(this.client, target);
    // A problem, or a pattern matching no index yet, is read again next time.
    if (!('problem' in resolved) && resolved.indices.length > 0) this.fields.set(target, resolved);
    return resolved;
  }

  /**
   * The batch's candidates, each with the subjects it exactly belongs to. A search meeting
   * documents the resolution does not cover, or refused by the store (a mapping changed under
   * it), reads the mapping again and searches again.
   */
  private async find(target: EsTarget, values: KeyTuple[]): Promise<Found | { problem: string }> {
    for (let attempt = 1; ; attempt++) {
      const resolution = await this.resolution(target);
      if ('problem' in resolution) return resolution;
      const plan = planSearch(resolution, values);
      if (plan.groups.length === 0) return { hits: [], inexact: 0, refused: plan.refused };
      let result: { hits: RawHit[]; unresolved: boolean };
      try {
        result = await this.search(target, searchBody(target, resolution, plan));
      } catch (error) {
        if (attempt > 1 || !(error instanceof errors.ResponseError && error.statusCode === 400)) throw error;
        this.fields.delete(target);
        continue;
      }
      if (result.unresolved && attempt < 3) {
        this.fields.delete(target);
        continue;
      }
      const hits = result.hits.map((h) => ({ index: h._index, id: h._id!, matches: exactSubjects(plan, h) }));
      return { hits, inexact: hits.filter((h) => h.matches.length === 0).length, refused: plan.refused };
    }
  }

  /** One search; past one page, the whole result again through a point in time, in pages. */
  private async search(target: EsTarget, body: ReturnType<typeof searchBody>): Promise<{ hits: RawHit[]; unresolved: boolean }> {
    const where = { index: target.index, ignore_unavailable: true, allow_no_indices: true };
    const first = await this.searcher.search({ ...where, ...body, size: PAGE, sort: ['_doc'], track_total_hits: false });
    const unresolved = ((first.aggregations?.unresolved as { doc_count?: number } | undefined)?.doc_count ?? 0) > 0;
    if (unresolved || first.hits.hits.length < PAGE) return { hits: first.hits.hits as RawHit[], unresolved };
    const { aggs: _aggs, ...paged } = body;
    let pit = (await this.searcher.openPointInTime({ ...where, keep_alive: '2m' })).id;
    const hits: RawHit[] = [];
    try {
      let after: unknown[] | undefined;
      for (;;) {
        const page = await this.searcher.search({
          pit: { id: pit, keep_alive: '2m' },
          ...paged,
          size: PAGE,
          sort: [{ _shard_doc: 'asc' }],
          track_total_hits: false,
          ...(after ? { search_after: after as Array<string | number> } : {}),
        });
        if (page.pit_id) pit = page.pit_id;
        hits.push(...(page.hits.hits as RawHit[]));
        if (page.hits.hits.length < PAGE) break;
        after = page.hits.hits.at(-1)!.sort!.map((v) => (v instanceof JsonNumber ? v.text : v));
      }
    } finally {
      await this.searcher.closePointInTime({ id: pit }).catch(() => undefined);
    }
    return { hits, unresolved };
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.searcher.close()]);
  }
}

/**
 * Elasticsearch errors in one place. Overload (429), timeouts (408), server errors, refused
 * credentials (401/403), and every connection or timeout error of the client are a wait. Any other response
 * (a request the store rejects) is the record's own fault.
 */
export function translate(error: unknown): LetheError {
  if (error instanceof LetheError) return error;
  // A bug in the connector is neither an outage nor the record's fault: never waited on.
  if (errorKind(error) === 'programmer') return new InvariantError(`elasticsearch connector: ${reasonOf(error)}`, { cause: error });
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    // 401/403: credentials or privileges, fixed by an operator for every record at once: a wait.
    // 409: a version conflict with a concurrent writer; the next try reads the document anew.
    if (status === 0 || status === 401 || status === 403 || status === 408 || status === 409 || status === 429 || status >= 500) {
      return new ServiceUnavailableError('elasticsearch', `${status}: ${error.message}`, { cause: error });
    }
    return new RecordError('ELASTICSEARCH_REJECTED', `elasticsearch ${status}: ${error.message}`, { cause: error });
  }
  return new ServiceUnavailableError('elasticsearch', reasonOf(error), { cause: error });
}
