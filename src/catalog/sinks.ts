import type { CatalogProblem } from './catalog-error.js';
import { formatQualifiedName, IdentifierError, parseColumnName, parseQualifiedName, tableKey, type TableRef } from './identifiers.js';
import { isPattern, placeholders, wideningOf, type NarrowOptions } from './key-template.js';
import { SINK_SETTING_KEYS, SINK_SETTINGS_DEFAULT, type SinksFile } from './sinks-schema.js';

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
/** What an anonymized column becomes: null or a literal (anonymized), a hash or an hmac (pseudonymized). */
export type BqReplacement = { kind: 'null' } | { kind: 'literal'; value: string | number | boolean } | { kind: 'hash' } | { kind: 'hmac'; keyId: string };
export interface BqTarget {
  table: string;
  match: MatchFields;
  action: { kind: 'delete' } | { kind: 'anonymize'; columns: Record<string, BqReplacement> };
}
export interface CompactedTarget {
  topic: string;
  key: string;
  related?: TableRef;
  keyFormat: 'string' | 'avro' | 'json';
  partitioner: 'murmur2' | 'crc32';
}

export interface SinkSettings {
  retryInitialMs: number;
  retryMaxMs: number;
  maxBatchEvents: number;
  deferredRetryMs: number;
  partitionsInParallel: number;
  chunksInFlight: number;
}

/** The resolved `sinks` section: per sink, its settings and its targets per subject type. */
export interface SinksConfig {
  settings: SinkSettings;
  redis?: { url: string; subjects: Map<string, RedisSubject> };
  elasticsearch?: { node: string; subjects: Map<string, EsTarget[]> };
  bigquery?: { projectId: string; apiEndpoint?: string; batch: { maxSubjects: number; maxWaitMs: number }; subjects: Map<string, BqTarget[]> };
  compacted?: { verification: { historyRecords: number; timeoutMs: number }; subjects: Map<string, CompactedTarget[]> };
}

export type SinkName = 'redis' | 'elasticsearch' | 'bigquery' | 'compacted';
export const SINK_NAMES: readonly SinkName[] = ['redis', 'elasticsearch', 'bigquery', 'compacted'];

/**
 * Splits each sink's section into settings and subject types, and checks what only the whole
 * catalog knows: every subject type exists, every related table is one of that subject's.
 */
export function resolveSinks(
  file: SinksFile | undefined,
  subjects: ReadonlyMap<string, { key: readonly string[]; related: ReadonlyArray<{ table: TableRef; rowKey?: readonly string[]; path: string }> }>,
  problems: CatalogProblem[],
  pseudonymization?: { hmacKey: string },
): SinksConfig {
  const settings = file?.settings ?? { ...SINK_SETTINGS_DEFAULT };
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
    if (!known) {
      const related = subjects.get(subject)?.related ?? [];
      const declared = related.map((r) => formatQualifiedName(r.table));
      const near = related.find((r) => editDistance(formatQualifiedName(r.table), formatQualifiedName(ref)) <= 2);
      problems.push({
        path,
        message:
          `${formatQualifiedName(ref)} is not a related table of subject ${subject}: subjects.${subject}.related declares ${declared.length > 0 ? declared.join(', ') : 'none'}` +
          (near ? `; ${near.path}.table names ${formatQualifiedName(near.table)}: a misspelling of ${formatQualifiedName(ref)} there, or of ${formatQualifiedName(near.table)} here?` : ''),
      });
    }
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
  /**
   * A template names exactly the subject's data: `{key.<column>}` names one of the subject's key
   * columns, `{row.<column>}` one of the related table's declared `key` columns (what its rows
   * carry in an event), and nothing in it can widen to another subject's data (`wideningOf`).
   */
  const checkTemplate = (subject: string, template: string, path: string, options: NarrowOptions, related?: TableRef): void => {
    const entry = subjects.get(subject)!;
    const widening = wideningOf(template, options);
    if (widening) problems.push({ path, message: widening });
    const relatedEntry = related && entry.related.find((r) => tableKey(r.table) === tableKey(related));
    for (const name of placeholders(template, true)) {
      if (name.startsWith('key.') && !entry.key.includes(name.slice(4))) {
        problems.push({ path, message: `{${name}} in "${template}": ${name.slice(4)} is not a key column of subject ${subject} (key: ${entry.key.join(', ')})` });
      }
      if (!name.startsWith('row.') || !relatedEntry) continue;
      const column = name.slice(4);
      if (!relatedEntry.rowKey) {
        problems.push({
          path,
          message: `{${name}} in "${template}": declare the primary key of ${formatQualifiedName(relatedEntry.table)} as \`key\` at ${relatedEntry.path} (e.g. key: ${column}); events carry a related row's primary key only`,
        });
      } else if (!relatedEntry.rowKey.includes(column)) {
        problems.push({
          path,
          message: `{${name}} in "${template}": events carry only the key of ${formatQualifiedName(relatedEntry.table)} (${relatedEntry.rowKey.join(', ')}, declared at ${relatedEntry.path}.key), not ${column}`,
        });
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
        if (!table) continue;
        related.push({ table, templates });
        templates.forEach((t, i) => checkTemplate(type, t, `sinks.redis.${type}.related.${tableText}[${i}]`, { pattern: isPattern(t), allowRow: true }, table));
      }
      const base = `sinks.redis.${type}`;
      s.keys.forEach((t, i) => checkTemplate(type, t, `${base}.keys[${i}]`, { pattern: isPattern(t), allowRow: false }));
      // A hash or set may be shared by every subject: its field or member names the subject.
      s.hashFields.forEach((h, i) => {
        checkTemplate(type, h.key, `${base}.hashFields[${i}].key`, { pattern: false, allowRow: false, requireSubject: false });
        checkTemplate(type, h.field, `${base}.hashFields[${i}].field`, { pattern: false, allowRow: false });
      });
      s.setMembers.forEach((m, i) => {
        checkTemplate(type, m.key, `${base}.setMembers[${i}].key`, { pattern: false, allowRow: false, requireSubject: false });
        checkTemplate(type, m.member, `${base}.setMembers[${i}].member`, { pattern: false, allowRow: false });
      });
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
      subjects: withHmacKey(withMatches<BqTarget>('bigquery', file.bigquery), pseudonymization?.hmacKey, problems),
    };
  }
  if (file.compacted) {
    const raw = perSubject<Array<{ topic: string; key: string; related?: TableRef; keyFormat: CompactedTarget['keyFormat']; partitioner: CompactedTarget['partitioner'] }>>('compacted', file.compacted);
    const resolved = new Map<string, CompactedTarget[]>();
    for (const [type, targets] of raw) {
      resolved.set(
        type,
        targets.map((t, i) => {
          const related = t.related ? relatedOf(type, t.related, `sinks.compacted.${type}[${i}].related`) : undefined;
          checkTemplate(type, t.key, `sinks.compacted.${type}[${i}].key`, { pattern: false, allowRow: t.related !== undefined }, related);
          return { topic: t.topic, key: t.key, keyFormat: t.keyFormat, partitioner: t.partitioner, ...(related ? { related } : {}) };
        }),
      );
    }
    out.compacted = { verification: file.compacted.verification, subjects: resolved };
  }
  return out;
}

/** The sinks the catalog configures. */
export function configuredSinks(sinks: SinksConfig): SinkName[] {
  return SINK_NAMES.filter((name) => sinks[name] !== undefined);
}

/** Levenshtein distance, for "did you mean" in catalog errors. Pure. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = current;
  }
  return previous[b.length]!;
}

/** Gives each `hmac` replacement the catalog's key id; `hmac` without `pseudonymization.hmacKey` is a problem at its path. */
function withHmacKey(subjects: Map<string, BqTarget[]>, keyId: string | undefined, problems: CatalogProblem[]): Map<string, BqTarget[]> {
  for (const [type, targets] of subjects) {
    targets.forEach((t, i) => {
      if (t.action.kind !== 'anonymize') return;
      const columns = t.action.columns as Record<string, BqReplacement | { kind: 'hmac'; keyId?: string }>;
      for (const [column, r] of Object.entries(columns)) {
        if (r.kind !== 'hmac') continue;
        if (keyId === undefined) problems.push({ path: `sinks.bigquery.${type}[${i}].action.anonymize.${column}`, message: 'hmac needs the key id: add pseudonymization: { hmacKey: <id> } (the key itself comes from LETHE_HMAC_KEY_<ID>)' });
        else columns[column] = { kind: 'hmac', keyId };
      }
    });
  }
  return subjects;
}
