import type { CatalogProblem } from './catalog-error.js';
import { formatQualifiedName, IdentifierError, parseColumnName, parseQualifiedName, tableKey, type TableRef } from './identifiers.js';
import { placeholders } from './key-template.js';
import { SINK_SETTING_KEYS, type SinksFile } from './sinks-schema.js';

export interface RedisSubject {
  keys: string[];
  hashFields: Array<{ key: string; field: string }>;
  setMembers: Array<{ key: string; member: string }>;
  /** Key templates per related table (by tableKey), filled from the manifest's rows. */
  related: Array<{ table: TableRef; templates: string[] }>;
}
/** The store's fields naming a subject, one per key column in the key's order. */
export type MatchFields = readonly string[];

export interface EsTarget {
  index: string;
  match: MatchFields;
  action: { kind: 'delete' } | { kind: 'anonymize'; fields: string[] };
}
export interface BqTarget {
  table: string;
  match: MatchFields;
  action: { kind: 'delete' } | { kind: 'anonymize'; columns: Record<string, string | number | boolean | null> };
}
export interface CompactedTarget {
  topic: string;
  key: string;
  related?: TableRef;
}

export interface SinkSettings {
  retryInitialMs: number;
  retryMaxMs: number;
  maxBatchEvents: number;
  deferredRetryMs: number;
}

/** The resolved `sinks` section: per sink, its settings and its targets per subject type. */
export interface SinksConfig {
  settings: SinkSettings;
  redis?: { url: string; subjects: Map<string, RedisSubject> };
  elasticsearch?: { node: string; subjects: Map<string, EsTarget[]> };
  bigquery?: { projectId: string; apiEndpoint?: string; batch: { maxSubjects: number; maxWaitMs: number }; subjects: Map<string, BqTarget[]> };
  compacted?: { subjects: Map<string, CompactedTarget[]> };
}

export type SinkName = 'redis' | 'elasticsearch' | 'bigquery' | 'compacted';
export const SINK_NAMES: readonly SinkName[] = ['redis', 'elasticsearch', 'bigquery', 'compacted'];

/**
 * Splits each sink's section into settings and subject types, and checks what only the whole
 * catalog knows: every subject type exists, every related table is one of that subject's.
 */
export function resolveSinks(
  file: SinksFile | undefined,
  subjects: ReadonlyMap<string, { key: readonly string[]; related: ReadonlyArray<{ table: TableRef }> }>,
  problems: CatalogProblem[],
): SinksConfig {
  const settings = file?.settings ?? { retryInitialMs: 200, retryMaxMs: 5_000, maxBatchEvents: 200, deferredRetryMs: 600_000 };
  const out: SinksConfig = { settings };
  if (!file) return out;

  const perSubject = <T>(sink: SinkName, section: Record<string, unknown>): Map<string, T> => {
    const map = new Map<string, T>();
    for (const [key, value] of Object.entries(section)) {
      if (SINK_SETTING_KEYS[sink]!.includes(key)) continue;
      if (!subjects.has(key)) {
        problems.push({ path: `sinks.${sink}.${key}`, message: `no subject type ${key} in subjects (known: ${[...subjects.keys()].join(', ')})` });
        continue;
      }
      map.set(key, value as T);
    }
    return map;
  };
  const relatedOf = (subject: string, text: string | TableRef, path: string): TableRef | undefined => {
    let ref: TableRef;
    try {
      ref = typeof text === 'string' ? parseQualifiedName(text) : text;
    } catch (error) {
      problems.push({ path, message: `not a table name: ${(error as IdentifierError).message}` });
      return undefined;
    }
    const known = subjects.get(subject)?.related.some((r) => tableKey(r.table) === tableKey(ref));
    if (!known) problems.push({ path, message: `${formatQualifiedName(ref)} is not a related table of subject ${subject}` });
    return known ? ref : undefined;
  };

  /** A target's match as fields in the order of the subject's key columns. */
  const matchOf = (subject: string, match: string | Record<string, string>, path: string): MatchFields => {
    const key = subjects.get(subject)!.key;
    if (typeof match === 'string') {
      if (key.length === 1) return [match];
      const example = key.map((c) => `${c}: <field>`).join(', ');
      problems.push({ path, message: `subject ${subject} has a composite key (${key.join(', ')}): name the field of each key column, e.g. { ${example} }` });
      return [];
    }
    // A column is named as it really is ("AccountId"), or as the catalog's key names it (PostgreSQL rules).
    const byColumn = new Map<string, string>();
    for (const [name, field] of Object.entries(match)) {
      let column: string | undefined = key.includes(name) ? name : undefined;
      try {
        column ??= parseColumnName(name);
      } catch {
        // reported below as not a key column
      }
      if (column === undefined || !key.includes(column)) {
        problems.push({ path: `${path}.${name}`, message: `${name} is not a key column of subject ${subject} (key: ${key.join(', ')})` });
      } else byColumn.set(column, field);
    }
    const missing = key.filter((c) => !byColumn.has(c));
    if (missing.length > 0) problems.push({ path, message: `no field for key column ${missing.join(', ')} of subject ${subject}` });
    return key.map((c) => byColumn.get(c) ?? '');
  };
  /** A sink's targets per subject, each target's match resolved to fields in key order. */
  const withMatches = <T extends { match: MatchFields }>(sink: SinkName, section: Record<string, unknown>): Map<string, T[]> =>
    new Map(
      [...perSubject<Array<Omit<T, 'match'> & { match: string | Record<string, string> }>>(sink, section)].map(([type, targets]) => [
        type,
        targets.map((t, i) => ({ ...t, match: matchOf(type, t.match, `sinks.${sink}.${type}[${i}].match`) }) as T),
      ]),
    );
  /** `{key.<column>}` must name one of the subject's key columns: a misspelt one would match nothing. */
  const checkTemplate = (subject: string, template: string, path: string): void => {
    const key = subjects.get(subject)!.key;
    for (const name of placeholders(template, true)) {
      if (name.startsWith('key.') && !key.includes(name.slice(4))) {
        problems.push({ path, message: `{${name}} in "${template}": ${name.slice(4)} is not a key column of subject ${subject} (key: ${key.join(', ')})` });
      }
    }
  };

  if (file.redis) {
    const raw = perSubject<{ keys: string[]; hashFields: RedisSubject['hashFields']; setMembers: RedisSubject['setMembers']; related: Record<string, string[]> }>('redis', file.redis);
    const resolved = new Map<string, RedisSubject>();
    for (const [type, s] of raw) {
      const related: RedisSubject['related'] = [];
      for (const [tableText, templates] of Object.entries(s.related)) {
        const table = relatedOf(type, tableText, `sinks.redis.${type}.related.${tableText}`);
        if (table) related.push({ table, templates });
      }
      const base = `sinks.redis.${type}`;
      s.keys.forEach((t, i) => checkTemplate(type, t, `${base}.keys[${i}]`));
      s.hashFields.forEach((h, i) => [h.key, h.field].forEach((t) => checkTemplate(type, t, `${base}.hashFields[${i}]`)));
      s.setMembers.forEach((m, i) => [m.key, m.member].forEach((t) => checkTemplate(type, t, `${base}.setMembers[${i}]`)));
      for (const [tableText, templates] of Object.entries(s.related)) templates.forEach((t, i) => checkTemplate(type, t, `${base}.related.${tableText}[${i}]`));
      resolved.set(type, { keys: s.keys, hashFields: s.hashFields, setMembers: s.setMembers, related });
    }
    out.redis = { url: file.redis.url, subjects: resolved };
  }
  if (file.elasticsearch) {
    out.elasticsearch = { node: file.elasticsearch.node, subjects: withMatches<EsTarget>('elasticsearch', file.elasticsearch) };
  }
  if (file.bigquery) {
    out.bigquery = {
      projectId: file.bigquery.projectId,
      ...(file.bigquery.apiEndpoint ? { apiEndpoint: file.bigquery.apiEndpoint } : {}),
      batch: file.bigquery.batch,
      subjects: withMatches<BqTarget>('bigquery', file.bigquery),
    };
  }
  if (file.compacted) {
    const raw = perSubject<Array<{ topic: string; key: string; related?: TableRef }>>('compacted', file.compacted);
    const resolved = new Map<string, CompactedTarget[]>();
    for (const [type, targets] of raw) {
      resolved.set(
        type,
        targets.map((t, i) => {
          checkTemplate(type, t.key, `sinks.compacted.${type}[${i}].key`);
          const related = t.related ? relatedOf(type, t.related, `sinks.compacted.${type}[${i}].related`) : undefined;
          return { topic: t.topic, key: t.key, ...(related ? { related } : {}) };
        }),
      );
    }
    out.compacted = { subjects: resolved };
  }
  return out;
}

/** The sinks the catalog configures. */
export function configuredSinks(sinks: SinksConfig): SinkName[] {
  return SINK_NAMES.filter((name) => sinks[name] !== undefined);
}
