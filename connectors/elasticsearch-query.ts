import type { EsTarget } from '../src/catalog/sinks.js';
import { holdsKey, keyProblem, sourceValues, type ResolvedField, type Resolution } from './elasticsearch-fields.js';

/** A subject's key values, one per match field. */
export type KeyTuple = readonly string[];
export const tupleKey = (t: KeyTuple) => JSON.stringify(t);

interface Group {
  indices: string[];
  fields: ResolvedField[];
  /** The batch's subjects whose keys this group's fields can match exactly. */
  values: KeyTuple[];
}

/** What one search for a batch of subjects asks, per group of indices resolving alike. */
export interface SearchPlan {
  groups: Group[];
  byIndex: Map<string, Group>;
  /** Subjects (tupleKey) whose key one of the indices cannot match exactly, with the reason. */
  refused: Map<string, string>;
}

/** Splits a batch's subjects by the groups that can match their keys exactly. Pure. */
export function planSearch(resolution: Resolution, values: readonly KeyTuple[]): SearchPlan {
  const refused = new Map<string, string>();
  const groups: Group[] = [];
  const byIndex = new Map<string, Group>();
  for (const g of resolution.groups) {
    const group: Group = { indices: g.indices, fields: g.fields, values: [] };
    for (const value of values) {
      const problem = g.fields.map((f, i) => keyProblem(f, value[i]!, indexList(g.indices))).find((p) => p !== undefined);
      if (problem === undefined) group.values.push(value);
      else if (!refused.has(tupleKey(value))) refused.set(tupleKey(value), problem);
    }
    if (group.values.length === 0) continue;
    groups.push(group);
    for (const index of g.indices) byIndex.set(index, group);
  }
  return { groups, byIndex, refused };
}

/** Indices named in a reason: the first few of a pattern's. */
const indexList = (indices: string[]) => (indices.length <= 3 ? indices.join(', ') : `${indices.slice(0, 3).join(', ')} and ${indices.length - 3} more`);

function groupQuery(target: EsTarget, group: Group): object {
  const names = group.fields.map((f) => f.query);
  const subjects =
    names.length === 1
      ? { terms: { [names[0]!]: group.values.map((v) => v[0]!) } }
      : { bool: { should: group.values.map((v) => ({ bool: { filter: names.map((f, i) => ({ term: { [f]: v[i]! } })) } })), minimum_should_match: 1 } };
  const filter = [{ terms: { _index: group.indices } }, subjects];
  if (target.action.kind === 'delete') return { bool: { filter } };
  // Only documents still carrying a value in an anonymized field need (or fail) anything.
  return { bool: { filter, should: target.action.fields.map((f) => ({ exists: { field: f } })), minimum_should_match: 1 } };
}

/**
 * One search for the batch: the candidates (post_filter: the term queries of every group), and,
 * in an aggregation over the same query, documents the resolution does not cover (an index
 * created since, or a match field an index has mapped since). Any of those means the mapping must
 * be read again before anything is claimed. Pure.
 */
export function searchBody(target: EsTarget, resolution: Resolution, plan: SearchPlan) {
  const candidates = { bool: { should: plan.groups.map((g) => groupQuery(target, g)), minimum_should_match: 1 } };
  const unresolved = {
    bool: {
      should: [
        { bool: { must_not: { terms: { _index: resolution.indices } } } },
        ...resolution.unmapped.map((u) => ({ bool: { filter: [{ term: { _index: u.index } }, { exists: { field: u.field } }] } })),
      ],
      minimum_should_match: 1,
    },
  };
  const sources = [...new Set(plan.groups.flatMap((g) => g.fields.map((f) => f.source)))];
  return {
    query: { bool: { should: [candidates, unresolved], minimum_should_match: 1 } },
    post_filter: candidates,
    // The indices holding them, so a search that stays unresolved names them.
    aggs: { unresolved: { filter: unresolved, aggs: { indices: { terms: { field: '_index', size: 10 } } } } },
    _source: sources,
  };
}

/**
 * The subjects (tupleKey) a candidate really belongs to: every match field's own `_source` value
 * (any element of an array) is exactly the subject's key. A term query on a keyword with a
 * normalizer, or on a number, finds more than that. Pure.
 */
export function exactSubjects(plan: SearchPlan, hit: { _index: string; _source?: unknown }): string[] {
  const group = plan.byIndex.get(hit._index);
  if (!group) return [];
  const held = group.fields.map((f) => sourceValues(hit._source, f.source));
  return group.values.filter((v) => group.fields.every((f, i) => held[i]!.some((h) => holdsKey(f, h, v[i]!)))).map(tupleKey);
}

/**
 * The first match field of a candidate's group with no `_source` value at all (excluded from
 * `_source`, filled by copy_to, indexed from a null_value): the candidate cannot be judged. Pure.
 */
export function missingSource(plan: SearchPlan, hit: { _index: string; _source?: unknown }): string | undefined {
  const group = plan.byIndex.get(hit._index);
  return group?.fields.find((f) => sourceValues(hit._source, f.source).length === 0)?.source;
}
