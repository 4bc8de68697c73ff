import { errors, type Client } from '@elastic/elasticsearch';
import type { EsTarget } from '../src/catalog/sinks.js';
import { JsonNumber } from './exact-json.js';
import { copiedFrom, runtimeProblem, sourceProblem, unmappedProblem, unsearchableProblem, type IndexMapping, type MappingNode } from './elasticsearch-mapping.js';

/**
 * How a catalog match field is searched and compared in one index. `query` is the field a term
 * query runs on (the field itself, or a text field's keyword subfield), `source` the `_source`
 * path of the document's own value, which decides.
 */
export interface ResolvedField {
  query: string;
  source: string;
  /** The mapping type of `query`. */
  type: string;
  kind: 'string' | 'number' | 'boolean';
  /** A keyword normalizer: the term query then finds case variants too, which `_source` rejects. */
  normalizer?: string;
  /** Longer values are not indexed: such a key cannot be found. */
  ignoreAbove?: number;
}

/** The target's concrete indices grouped by how their match fields resolve (one query per group). */
export interface Resolution {
  groups: Array<{ indices: string[]; fields: ResolvedField[] }>;
  /** Every concrete index the target named when resolved. */
  indices: string[];
  /** Match fields an index did not map yet (it holds no such document until its mapping grows). */
  unmapped: Array<{ index: string; field: string }>;
}
export type TargetFields = Resolution | { problem: string };

const INTEGERS: Record<string, [bigint, bigint]> = {
  byte: [-(2n ** 7n), 2n ** 7n - 1n],
  short: [-(2n ** 15n), 2n ** 15n - 1n],
  integer: [-(2n ** 31n), 2n ** 31n - 1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
  unsigned_long: [0n, 2n ** 64n - 1n],
};
const FLOATS: Record<string, number> = { double: Number.MAX_VALUE, scaled_float: Number.MAX_VALUE, float: 3.4028234663852886e38, half_float: 65504 };
const STRINGS = new Set(['keyword', 'wildcard']);
const FIX = 'map it as keyword, or give it a keyword subfield (fields: { keyword: { type: keyword } }) and reindex';

/**
 * A number's canonical decimal form: no sign but a leading `-`, no leading zeros, no exponent,
 * no trailing fractional zeros, `0` for zero (`01`, `+1`, `1.0`, `1e0` are all `1`); null for
 * text that is not a number. Pure; exact for any number of digits (no floating point).
 */
export function canonicalDecimal(text: string): string | null {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d{1,4}))?$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const digits = `${m[2]}${m[3] ?? ''}`;
  let point = m[2]!.length + Number(m[4] ?? 0);
  const lead = digits.length - digits.replace(/^0+/, '').length;
  const significant = digits.replace(/^0+/, '').replace(/0+$/, '');
  if (significant === '') return '0';
  point -= lead;
  const whole = point <= 0 ? '0' : significant.slice(0, point).padEnd(point, '0');
  const fraction = point < 0 ? '0'.repeat(-point) + significant : significant.slice(Math.max(point, 0));
  return `${m[1] === '-' ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Why a subject's key cannot be matched exactly in this field of `index`, if it cannot. Pure; the reason never quotes the key. */
export function keyProblem(field: ResolvedField, key: string, index: string): string | undefined {
  const where = `field ${field.query} of index ${index} (${field.type})`;
  if (field.kind === 'string') {
    return field.ignoreAbove !== undefined && key.length > field.ignoreAbove
      ? `the key is longer than ignore_above ${field.ignoreAbove} of ${where}: values that long are not indexed, so its documents cannot be found`
      : undefined;
  }
  if (field.kind === 'boolean') return key === 'true' || key === 'false' ? undefined : `the key is not true or false, as ${where} needs`;
  if (canonicalDecimal(key) !== key) {
    return `the key is not a number in canonical decimal form (no leading zeros, plus sign, exponent, spaces or trailing fractional zeros), as ${where} needs: a coerced match could erase another subject`;
  }
  const range = INTEGERS[field.type];
  if (range) {
    if (key.includes('.')) return `the key is not an integer, as ${where} needs`;
    return BigInt(key) < range[0] || BigInt(key) > range[1] ? `the key is out of the range of ${where}` : undefined;
  }
  return Math.abs(Number(key)) > (FLOATS[field.type] ?? Number.MAX_VALUE) ? `the key is out of the range of ${where}` : undefined;
}

/**
 * Whether a document's own value (one `_source` value of the field, an array element) is exactly
 * the key: the same string for string fields (a JSON number as written), the same number in
 * canonical form for numeric fields (a JSON number or a numeric string the store coerced). Pure.
 */
export function holdsKey(field: ResolvedField, value: unknown, key: string): boolean {
  const text =
    typeof value === 'string' ? value : value instanceof JsonNumber ? value.text : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  if (text === undefined) return false;
  if (field.kind === 'number') return canonicalDecimal(text) === key;
  return text === key;
}

/** Every value at a `_source` path: dotted names and object paths alike, arrays of values or objects flattened. Pure. */
export function sourceValues(node: unknown, path: string): unknown[] {
  const walk = (at: unknown, parts: string[]): unknown[] => {
    if (Array.isArray(at)) return at.flatMap((a) => walk(a, parts));
    if (parts.length === 0) return at === undefined || at === null ? [] : [at];
    if (!at || typeof at !== 'object' || at instanceof JsonNumber) return [];
    const out: unknown[] = [];
    for (let i = parts.length; i >= 1; i--) {
      const name = parts.slice(0, i).join('.');
      if (Object.hasOwn(at, name)) out.push(...walk((at as Record<string, unknown>)[name], parts.slice(i)));
    }
    return out;
  };
  return walk(node, path.split('.'));
}

type Found = { node: MappingNode; source: string } | { problem: string } | undefined;

/** The mapping of a field path: object paths, dotted names (subobjects: false) and multi-fields. */
function lookup(properties: Record<string, MappingNode> | undefined, parts: string[], prefix: string): Found {
  if (!properties) return undefined;
  for (let i = parts.length; i >= 1; i--) {
    const name = parts.slice(0, i).join('.');
    const node = properties[name];
    if (!node) continue;
    const at = prefix ? `${prefix}.${name}` : name;
    const rest = parts.slice(i);
    if (node.type === 'nested') return { problem: `${at} is a nested object: a field inside it cannot be matched by a top-level query` };
    if (node.type === undefined || node.type === 'object') {
      if (rest.length === 0) return { problem: `${at} is an object, not a field` };
      const inner = lookup(node.properties, rest, at);
      if (inner) return inner;
      continue;
    }
    if (rest.length === 0) return { node, source: at };
    const sub = node.fields?.[rest.join('.')];
    if (sub) return { node: sub, source: at };
  }
  return undefined;
}

/**
 * How one catalog match field resolves in one index's mapping; undefined when the index does not
 * map it and no document can hold it. A field whose documents may hold values the index cannot
 * search (runtime, dynamic: false, enabled: false), or whose `_source` lacks the value to compare
 * (disabled, filtered, filled by copy_to), is a problem. Pure.
 */
export function resolveField(mapping: IndexMapping, field: string): ResolvedField | { problem: string } | undefined {
  const runtime = runtimeProblem(mapping, field);
  if (runtime !== undefined) return { problem: runtime };
  const found = lookup(mapping.properties, field.split('.'), '');
  if (!found) {
    const problem = unmappedProblem(mapping, field);
    return problem === undefined ? undefined : { problem };
  }
  if ('problem' in found) return found;
  const { node, source } = found;
  const copied = copiedFrom(mapping.properties, source);
  const problem =
    unsearchableProblem(node, field) ??
    sourceProblem(mapping, source) ??
    (copied.length > 0 ? `field ${source} is filled by copy_to from ${copied.join(', ')}: its documents hold no _source value of their own to compare with the key (match on ${copied.join(' or ')} instead)` : undefined);
  if (problem !== undefined) return { problem };
  const type = node.type!;
  if (type === 'text' || type === 'match_only_text') {
    const keywords = Object.entries(node.fields ?? {}).filter(([, f]) => f.type === 'keyword');
    // A subfield without a normalizer is exact in the index; one with a normalizer still finds every candidate.
    const [name, sub] = keywords.find(([, f]) => f.normalizer === undefined) ?? keywords[0] ?? [];
    if (!sub) return { problem: `field ${field} is ${type} without a keyword subfield: analyzed text cannot be matched exactly (${FIX})` };
    return stringField(`${field}.${name}`, source, sub);
  }
  if (STRINGS.has(type)) return stringField(field, source, node);
  if (INTEGERS[type] || FLOATS[type] !== undefined) return { query: field, source, type, kind: 'number' };
  if (type === 'boolean') return { query: field, source, type, kind: 'boolean' };
  return { problem: `field ${field} is of type ${type}, which Lethe cannot match exactly (${FIX})` };
}

function stringField(query: string, source: string, node: MappingNode): ResolvedField {
  return {
    query,
    source,
    type: node.type!,
    kind: 'string',
    ...(node.normalizer !== undefined ? { normalizer: node.normalizer } : {}),
    ...(node.ignore_above !== undefined ? { ignoreAbove: node.ignore_above } : {}),
  };
}

/**
 * A target's match fields across the concrete indices of its index name (a pattern or alias
 * names several, or none yet): grouped by how they resolve, or the first problem, naming index
 * and field. Pure; `mappings` is a get-mapping response.
 */
export function resolveTarget(target: EsTarget, mappings: Record<string, { mappings?: IndexMapping }>): TargetFields {
  const groups = new Map<string, { indices: string[]; fields: ResolvedField[] }>();
  const unmapped: Resolution['unmapped'] = [];
  const indices = Object.keys(mappings).sort();
  for (const index of indices) {
    const fields: ResolvedField[] = [];
    for (const field of target.match) {
      const resolved = resolveField(mappings[index]!.mappings ?? {}, field);
      if (resolved === undefined) unmapped.push({ index, field });
      else if ('problem' in resolved) return { problem: `index ${index}: ${resolved.problem}` };
      else fields.push(resolved);
    }
    if (fields.length < target.match.length) continue;
    const signature = JSON.stringify(fields);
    const group = groups.get(signature) ?? { indices: [], fields };
    group.indices.push(index);
    groups.set(signature, group);
  }
  if (indices.length > 0 && groups.size === 0) {
    const nowhere = target.match.filter((f) => indices.every((index) => unmapped.some((u) => u.index === index && u.field === f)));
    return {
      problem:
        nowhere.length > 0
          ? `no index of ${target.index} maps the match field ${nowhere.join(', ')} (check the catalog's match)`
          : `no index of ${target.index} maps all the match fields ${target.match.join(', ')} (check the catalog's match)`,
    };
  }
  return { groups: [...groups.values()], indices, unmapped };
}

/**
 * Reads the target's mappings and resolves them. A concrete index that does not exist, and any
 * closed index the target covers (a pattern's open indices alone would look complete), is the problem.
 */
export async function readTargetFields(client: Client, target: EsTarget): Promise<TargetFields> {
  try {
    const mappings = await client.indices.getMapping({ index: target.index, expand_wildcards: ['open', 'closed'] });
    const closed = await closedIndices(client, Object.keys(mappings));
    if (closed.length > 0) {
      return { problem: `index ${closed.join(', ')} of ${target.index} is closed: its documents can be neither searched nor erased (open it, or leave it out of the index name)` };
    }
    return resolveTarget(target, mappings as Parameters<typeof resolveTarget>[1]);
  } catch (error) {
    if (error instanceof errors.ResponseError && error.statusCode === 404) return { problem: `index ${target.index} does not exist (check the catalog's index name)` };
    throw error;
  }
}

/** The closed ones among concrete indices (an alias's or a pattern's). */
async function closedIndices(client: Client, indices: string[]): Promise<string[]> {
  if (indices.length === 0) return [];
  const resolved = await client.indices.resolveIndex({ name: indices, expand_wildcards: 'all' });
  return resolved.indices.filter((i) => i.attributes.includes('closed')).map((i) => i.name).sort();
}

/** A resolution in a line, for `doctor` and the logs: `users-2025, users-2026: user_id.keyword`. */
export function describeFields(resolution: Resolution): string {
  if (resolution.groups.length === 0) return 'no index yet (a pattern matching none is nothing to do)';
  return resolution.groups
    .map((g) => `${g.indices.join(', ')}: ${g.fields.map((f) => `${f.query} (${f.type}${f.normalizer ? `, normalizer ${f.normalizer}: candidates compared with _source` : ''})`).join(' + ')}`)
    .join('; ');
}
