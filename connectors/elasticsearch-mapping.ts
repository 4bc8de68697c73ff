/** One node of an Elasticsearch mapping: a field, a multi-field or an object. */
export interface MappingNode {
  type?: string;
  properties?: Record<string, MappingNode>;
  fields?: Record<string, MappingNode>;
  normalizer?: string;
  ignore_above?: number;
  /** Objects: whether new fields are mapped (true), ignored but kept in `_source` (false), runtime fields, or refused (strict). */
  dynamic?: boolean | string;
  /** Objects: false keeps the whole object in `_source` without indexing anything in it. */
  enabled?: boolean;
  index?: boolean;
  doc_values?: boolean;
  copy_to?: string | string[];
}

/** An index's mappings as get-mapping returns them. */
export interface IndexMapping {
  dynamic?: boolean | string;
  _source?: { enabled?: boolean; includes?: string[]; excludes?: string[] };
  runtime?: Record<string, unknown>;
  properties?: Record<string, MappingNode>;
}

/** Whether an Elasticsearch `_source` filter pattern (`*` wildcards) covers a path or an object enclosing it. Pure. */
export function patternCovers(pattern: string, path: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const parts = path.split('.');
  return parts.some((_, i) => re.test(parts.slice(0, i + 1).join('.')));
}

/**
 * Why documents of an index hold no `_source` value at `source` to compare with a key, if they
 * cannot: `_source` disabled, or filtered so the field is dropped. Pure.
 */
export function sourceProblem(mapping: IndexMapping, source: string): string | undefined {
  const filter = mapping._source ?? {};
  const fix = 'documents must keep the field in _source (change the mapping and reindex)';
  if (filter.enabled === false) return `_source is disabled: a document's own value cannot be compared with the key, so nothing can be erased exactly (${fix})`;
  const excluded = (filter.excludes ?? []).find((p) => patternCovers(p, source));
  if (excluded !== undefined) return `_source.excludes ${excluded} drops field ${source} from _source: its value cannot be compared with the key (${fix})`;
  const includes = filter.includes ?? [];
  if (includes.length > 0 && !includes.some((p) => patternCovers(p, source))) {
    return `_source.includes leaves field ${source} out of _source: its value cannot be compared with the key (${fix})`;
  }
  return undefined;
}

/** The fields whose `copy_to` fills `target` (a copied value is indexed, never in `_source`). Pure. */
export function copiedFrom(properties: Record<string, MappingNode> | undefined, target: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, node] of Object.entries(properties ?? {})) {
    const at = prefix ? `${prefix}.${name}` : name;
    const to = node.copy_to === undefined ? [] : Array.isArray(node.copy_to) ? node.copy_to : [node.copy_to];
    if (to.includes(target)) out.push(at);
    out.push(...copiedFrom(node.properties, target, at));
  }
  return out;
}

/** A runtime field (mappings.runtime, where dynamic: runtime puts new fields) named `field` or enclosing it. Pure. */
export function runtimeProblem(mapping: IndexMapping, field: string): string | undefined {
  const parts = field.split('.');
  const name = parts.map((_, i) => parts.slice(0, i + 1).join('.')).find((p) => Object.hasOwn(mapping.runtime ?? {}, p));
  if (name === undefined) return undefined;
  return `field ${name} is a runtime field (mappings.runtime): computed at search time, it shadows any indexed field of that name and Lethe cannot trust its matches (map ${field} as keyword and reindex)`;
}

/**
 * Why a match field an index does not map may still be in its documents, unsearchable, if it
 * may: an enclosing object with `enabled: false`, or `dynamic: false` / `runtime` in force where
 * the field would be added (the nearest enclosing object's, else the root's). Under `strict` or
 * `true` an unmapped field is in no document, so the index holds nothing to erase. Pure.
 */
export function unmappedProblem(mapping: IndexMapping, field: string): string | undefined {
  let dynamic = String(mapping.dynamic ?? 'true');
  let where = 'the mapping root';
  let properties = mapping.properties;
  let parts = field.split('.');
  let at = '';
  descend: while (parts.length > 0) {
    for (let i = parts.length; i >= 1; i--) {
      const name = parts.slice(0, i).join('.');
      const node = properties?.[name];
      if (!node || (node.type !== undefined && node.type !== 'object')) continue;
      at = at ? `${at}.${name}` : name;
      if (node.enabled === false) return `field ${field} is inside ${at}, an object with enabled: false: its values stay in _source but are not indexed, so they cannot be searched (map ${at} with enabled: true and reindex)`;
      if (node.dynamic !== undefined) [dynamic, where] = [String(node.dynamic), at];
      properties = node.properties;
      parts = parts.slice(i);
      continue descend;
    }
    break;
  }
  const fix = `map ${field} explicitly as keyword and reindex`;
  if (dynamic === 'false') return `field ${field} is not mapped and dynamic: false at ${where} keeps new fields out of the index: its values in _source cannot be searched (${fix})`;
  if (dynamic === 'runtime') return `field ${field} is not mapped and dynamic: runtime at ${where} makes it a runtime field, computed at search time (${fix})`;
  return undefined;
}

/** Why a mapped field cannot be searched at all, if it cannot. Pure. */
export function unsearchableProblem(node: MappingNode, field: string): string | undefined {
  return node.index === false && node.doc_values === false ? `field ${field} has index: false and doc_values: false: it cannot be searched (map it with index: true and reindex)` : undefined;
}
