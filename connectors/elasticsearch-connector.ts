import { Client, errors } from '@elastic/elasticsearch';
import type { EsTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { RecordError, ServiceUnavailableError } from '../src/errors.js';
import { keyValues } from '../src/events/subject-values.js';
import { targetName } from '../src/catalog/targets.js';
import { readTargetFields, type Resolution, type TargetFields } from './elasticsearch-fields.js';
import { bulkFailure, translate } from './elasticsearch-errors.js';
import { exactSubjects, missingSource, planSearch, searchBody, tupleKey, type KeyTuple } from './elasticsearch-query.js';
import { ExactSerializer, JsonNumber } from './exact-json.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

export { translate } from './elasticsearch-errors.js';

const PAGE = 1000;

interface Hit {
  index: string;
  id: string;
  /** The shard routing it was indexed with: a delete or update without it misses the document. */
  routing?: string;
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
interface Searched {
  hits: RawHit[];
  /** Indices with documents the resolution does not cover. */
  unresolved: string[];
}
interface RawHit {
  _index: string;
  _id?: string;
  _routing?: string;
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
 * only claimed for an index that exists (a pattern may match none), is open and maps the match
 * fields searchably, with every candidate holding its own `_source` value to compare; deletes and
 * updates carry each document's routing.
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
        const erased = new Map<EsTarget, Array<Omit<TargetResult, 'target'>>>();
        for (const wave of this.waves(targets)) {
          const settled = await Promise.allSettled(wave.map((target) => this.eraseTarget(target, values)));
          const failed = settled.find((r) => r.status === 'rejected');
          if (failed) throw failed.reason;
          wave.forEach((target, n) => erased.set(target, (settled[n] as PromiseFulfilledResult<Array<Omit<TargetResult, 'target'>>>).value));
        }
        for (const target of targets) {
          const counts = erased.get(target)!;
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

  /**
   * The targets in groups to erase at once (each target's search, _bulk, refresh and verifying
   * search stay in order; the groups follow one another). A target joins a group only when it
   * names one index or alias literally and its resolved indices are known and shared with no
   * other target of the group: targets over the same documents go one after the other, so a
   * document one deletes is not also counted by another that found it first. The first batch,
   * before any resolution is kept, goes target by target.
   */
  private waves(targets: readonly EsTarget[]): EsTarget[][] {
    const waves: Array<{ targets: EsTarget[]; indices: Set<string> }> = [];
    for (const target of targets) {
      const resolved = this.fields.get(target);
      const indices = resolved && !('problem' in resolved) && !/[*,]/.test(target.index) ? resolved.indices : undefined;
      const last = waves.at(-1);
      if (indices && last && last.indices.size > 0 && indices.every((i) => !last.indices.has(i))) {
        last.targets.push(target);
        for (const i of indices) last.indices.add(i);
      } else {
        waves.push({ targets: [target], indices: new Set(indices ?? []) });
      }
    }
    return waves.map((w) => w.targets);
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
    const at = (h: Hit) => ({ _index: h.index, _id: h.id, ...(h.routing !== undefined ? { routing: h.routing } : {}) });
    const operations =
      target.action.kind === 'delete'
        ? hits.map((h) => ({ delete: at(h) }))
        : hits.flatMap((h) => [{ update: at(h) }, { doc: Object.fromEntries((target.action as { fields: string[] }).fields.map((f) => [f, null])) }]);
    const response = await this.client.bulk({ operations });
    const failures = response.items
      .map((item) => Object.values(item)[0]!)
      // A document deleted meanwhile is what we wanted.
      .filter((r) => r.error && r.status !== 404);
    if (failures.length === 0) return;
    const message = bulkFailure(`bulk ${target.action.kind} in ${target.index}`, failures);
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
      let result: Searched;
      try {
        result = await this.search(target, searchBody(target, resolution, plan));
      } catch (error) {
        // 400: a mapping changed, or an index was closed, since the resolution; 404: an index deleted.
        const stale = error instanceof errors.ResponseError && (error.statusCode === 400 || error.statusCode === 404);
        if (attempt > 1 || !stale) throw error;
        this.fields.delete(target);
        continue;
      }
      if (result.unresolved.length > 0) {
        this.fields.delete(target);
        if (attempt < 3) continue;
        // Never "nothing to do" over documents the resolution cannot judge.
        return { problem: `index ${result.unresolved.join(', ')}: documents hold a match field (${target.match.join(', ')}) the mapping read 3 times does not cover: cannot claim they are not the subject's` };
      }
      // A candidate without its own value cannot be judged: failing the target, not "inexact".
      const blind = result.hits.map((h) => [h, missingSource(plan, h)] as const).find(([, f]) => f !== undefined);
      if (blind) return { problem: `index ${blind[0]._index}: cannot compare exactly: no _source value at ${blind[1]} in a document the index matched for the key` };
      const hits = result.hits.map((h) => ({
        index: h._index,
        id: h._id!,
        ...(h._routing !== undefined ? { routing: h._routing } : {}),
        matches: exactSubjects(plan, h),
      }));
      return { hits, inexact: hits.filter((h) => h.matches.length === 0).length, refused: plan.refused };
    }
  }

  /** One search; past one page, the whole result again through a point in time, in pages. */
  private async search(target: EsTarget, body: ReturnType<typeof searchBody>): Promise<Searched> {
    // Closed indices are expanded too, so one closed since the resolution fails the search (400)
    // and is named by the next resolution instead of being skipped.
    const where = { index: target.index, expand_wildcards: ['open', 'closed'] as Array<'open' | 'closed'>, allow_no_indices: true };
    const first = await this.searcher.search({ ...where, ...body, size: PAGE, sort: ['_doc'], track_total_hits: false });
    const agg = first.aggregations?.unresolved as { indices?: { buckets?: Array<{ key: string }> } } | undefined;
    const unresolved = (agg?.indices?.buckets ?? []).map((b) => b.key);
    if (unresolved.length > 0 || first.hits.hits.length < PAGE) return { hits: first.hits.hits as RawHit[], unresolved };
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
