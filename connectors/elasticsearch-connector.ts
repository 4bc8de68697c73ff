import { Client, errors } from '@elastic/elasticsearch';
import type { EsTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';
import { keyValues } from '../src/events/subject-values.js';
import { targetName } from '../src/catalog/targets.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

const PAGE = 1000;

interface Hit {
  index: string;
  id: string;
  /** The subjects (tupleKey of their key values) the document belongs to. */
  matches: string[];
}

/** A subject's key values, one per match field. */
type KeyTuple = readonly string[];
const tupleKey = (t: KeyTuple) => JSON.stringify(t);

/**
 * Elasticsearch, core APIs only: find the subjects' documents by a terms query on the match
 * field, or for a composite key a term per key column's field (point in time + search_after, so
 * any number of documents is paged consistently), then
 * `_bulk` delete them or `_bulk` update the anonymized fields to null; refresh the touched
 * indices; verify with a count per subject (documents left, or still carrying an anonymized
 * field). Index names may be patterns or aliases. A batch of events costs one search per target,
 * not one per subject. "Nothing to do" is only claimed for an index that exists (a pattern may
 * match none) and maps the match fields: a misspelt index or field is a failure, not a silent
 * success.
 */
export class ElasticsearchConnector implements SinkConnector {
  readonly sink = 'elasticsearch' as const;
  private readonly client: Client;
  /** Targets whose match fields were seen in the mapping (a mapped field stays mapped). */
  private readonly mapped = new Set<EsTarget>();

  constructor(private readonly config: NonNullable<SinksConfig['elasticsearch']>) {
    this.client = new Client({ node: config.node, maxRetries: 2, requestTimeout: 60_000 });
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
    const hits = await this.find(target, values);
    if (hits.length === 0) {
      // A wrong index or field fails this target only; the event's other targets still apply.
      const wrong = await this.checkMapping(target);
      if (wrong) return values.map(() => ({ affected: 0, residual: 0, failed: wrong }));
    }
    const touched = new Set<string>();
    if (hits.length > 0) {
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
      if (failures.length > 0) {
        const first = failures[0]!;
        const message = `bulk ${target.action.kind} in ${target.index}: ${failures.length} item(s) failed, first: ${first.error?.type}: ${first.error?.reason}`;
        // Items the store refused for their content are the record's fault; overload or a shard
        // being unavailable is a wait.
        throw failures.every((f) => f.status === 409 || f.status === 429 || f.status >= 500)
          ? new ServiceUnavailableError('elasticsearch', message, { code: 'ELASTICSEARCH_BULK' })
          : new RecordError('ELASTICSEARCH_BULK', message);
      }
      for (const h of hits) touched.add(h.index);
      await this.client.indices.refresh({ index: [...touched] });
    }
    const residual = await this.residual(target, values);
    return values.map((value, n) => ({ affected: hits.filter((h) => h.matches.includes(tupleKey(value))).length, residual: residual[n]! }));
  }

  /**
   * When nothing was found: the index must exist (a concrete name; a pattern may match nothing)
   * and one of its indices must map every match field, or the catalog names the wrong thing.
   */
  private async checkMapping(target: EsTarget): Promise<string | undefined> {
    if (this.mapped.has(target)) return undefined;
    let caps;
    try {
      caps = await this.client.fieldCaps({ index: target.index, fields: [...target.match] });
    } catch (error) {
      if (error instanceof errors.ResponseError && error.statusCode === 404) return `index ${target.index} does not exist (check the catalog's index name)`;
      throw error;
    }
    if (caps.indices.length === 0) return undefined; // a pattern that matches no index yet
    const unmapped = target.match.filter((f) => !caps.fields[f]);
    if (unmapped.length > 0) return `no index of ${target.index} maps the match field ${unmapped.join(', ')} (check the catalog's match)`;
    this.mapped.add(target);
    return undefined;
  }

  private query(target: EsTarget, values: KeyTuple[]) {
    const subjects =
      target.match.length === 1
        ? { terms: { [target.match[0]!]: values.map((v) => v[0]!) } }
        : { bool: { should: values.map((v) => ({ bool: { filter: target.match.map((f, i) => ({ term: { [f]: v[i]! } })) } })), minimum_should_match: 1 } };
    const filter = [subjects];
    if (target.action.kind === 'delete') return { bool: { filter } };
    // Only documents still carrying a value in an anonymized field need (or fail) anything.
    return { bool: { filter, should: target.action.fields.map((f) => ({ exists: { field: f } })), minimum_should_match: 1 } };
  }

  private async find(target: EsTarget, values: KeyTuple[]): Promise<Hit[]> {
    let pit: string;
    try {
      pit = (await this.client.openPointInTime({ index: target.index, keep_alive: '2m', ignore_unavailable: true })).id;
    } catch (error) {
      if (error instanceof errors.ResponseError && error.statusCode === 404) return [];
      throw error;
    }
    const hits: Hit[] = [];
    try {
      let after: Array<string | number> | undefined;
      for (;;) {
        const page = await this.client.search({
          pit: { id: pit, keep_alive: '2m' },
          query: this.query(target, values),
          size: PAGE,
          sort: [{ _shard_doc: 'asc' }],
          _source: [...target.match],
          ...(after ? { search_after: after } : {}),
        });
        if (page.pit_id) pit = page.pit_id;
        for (const hit of page.hits.hits) {
          // A field may hold one value or an array of them.
          const held = target.match.map((f) => {
            const raw = fieldValue(hit._source, f);
            return (Array.isArray(raw) ? raw : [raw]).map((v) => String(v));
          });
          const found = values.filter((v) => v.every((value, i) => held[i]!.includes(value))).map(tupleKey);
          hits.push({ index: hit._index, id: hit._id!, matches: found });
        }
        if (page.hits.hits.length < PAGE) break;
        after = page.hits.hits.at(-1)!.sort as Array<string | number>;
      }
    } finally {
      await this.client.closePointInTime({ id: pit }).catch(() => undefined);
    }
    return hits;
  }

  /** Documents of each subject still matching (one msearch for the batch). */
  private async residual(target: EsTarget, values: KeyTuple[]): Promise<number[]> {
    const response = await this.client.msearch({
      searches: values.flatMap((value) => [
        { index: target.index, ignore_unavailable: true, allow_no_indices: true },
        { size: 0, track_total_hits: true, query: this.query(target, [value]) },
      ]),
    });
    return response.responses.map((r) => {
      if ('error' in r) {
        const message = `verifying ${target.index}: ${r.error.type}: ${r.error.reason}`;
        // A query the index refuses (a mapping that cannot take it) is the target's fault, not an outage.
        if (r.status !== undefined && r.status >= 400 && r.status < 500 && ![408, 409, 429].includes(r.status)) throw new RecordError('ELASTICSEARCH_VERIFY', message);
        throw new ServiceUnavailableError('elasticsearch', message, { code: 'ELASTICSEARCH_VERIFY' });
      }
      const total = r.hits.total;
      return typeof total === 'number' ? total : (total?.value ?? 0);
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function fieldValue(source: unknown, path: string): unknown {
  let node: unknown = source;
  if (node && typeof node === 'object' && path in node) return (node as Record<string, unknown>)[path];
  for (const part of path.split('.')) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
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
