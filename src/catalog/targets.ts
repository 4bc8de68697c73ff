import { formatQualifiedName, type TableRef } from './identifiers.js';
import { configuredSinks, type BqReplacement, type SinkName, type SinksConfig } from './sinks.js';

/**
 * The name of each target within a sink, as acks carry it. Connectors name their results with
 * these, and the tracker expects exactly these, so the two cannot drift apart.
 */
export const targetName = {
  redisKey: (template: string) => `key ${template}`,
  redisHashField: (key: string, field: string) => `hash ${key} field ${field}`,
  redisSetMember: (key: string, member: string) => `set ${key} member ${member}`,
  redisRelatedKey: (table: TableRef, template: string) => `related ${formatQualifiedName(table)} key ${template}`,
  esIndex: (index: string) => `index ${index}`,
  bqTable: (table: string) => `table ${table}`,
  compactedKey: (topic: string, key: string) => `topic ${topic} key ${key}`,
};

/** One place a subject's data is copied to, reached by a sink. */
export interface SinkTarget {
  sink: SinkName;
  target: string;
  /** What the sink does there, for the proof report: 'delete', or 'anonymize email, name'. */
  action: string;
}

/**
 * A BigQuery anonymize action for the proof report: null and literal columns are anonymized, hash
 * and hmac columns pseudonymized (the value can be linked, or by guessing recovered), with the
 * method and key id: `anonymize email, name; pseudonymize phone: HMAC-SHA256 key k2026`. Pure.
 */
export function bqActionText(columns: Record<string, BqReplacement>): string {
  const entries = Object.entries(columns);
  const anonymized = entries.filter(([, r]) => r.kind === 'null' || r.kind === 'literal').map(([c]) => c);
  const pseudonymized = entries.flatMap(([c, r]) => (r.kind === 'hash' ? [`${c}: SHA-256 unkeyed`] : r.kind === 'hmac' ? [`${c}: HMAC-SHA256 key ${r.keyId}`] : []));
  return [...(anonymized.length > 0 ? [`anonymize ${anonymized.join(', ')}`] : []), ...(pseudonymized.length > 0 ? [`pseudonymize ${pseudonymized.join(', ')}`] : [])].join('; ');
}

/** Every sink target the catalog declares for a subject type, in sink order. Pure. */
export function sinkTargetsOf(sinks: SinksConfig, subjectType: string): SinkTarget[] {
  const out: SinkTarget[] = [];
  for (const sink of configuredSinks(sinks)) {
    const found: Array<[string, string]> = [];
    if (sink === 'redis') {
      const s = sinks.redis!.subjects.get(subjectType);
      if (s) {
        found.push(...s.keys.map((k): [string, string] => [targetName.redisKey(k), 'delete']));
        found.push(...s.hashFields.map((h): [string, string] => [targetName.redisHashField(h.key, h.field), 'delete']));
        found.push(...s.setMembers.map((m): [string, string] => [targetName.redisSetMember(m.key, m.member), 'delete']));
        for (const r of s.related) found.push(...r.templates.map((t): [string, string] => [targetName.redisRelatedKey(r.table, t), 'delete']));
      }
    } else if (sink === 'elasticsearch') {
      for (const t of sinks.elasticsearch!.subjects.get(subjectType) ?? []) {
        found.push([targetName.esIndex(t.index), t.action.kind === 'delete' ? 'delete' : `anonymize ${t.action.fields.join(', ')}`]);
      }
    } else if (sink === 'bigquery') {
      for (const t of sinks.bigquery!.subjects.get(subjectType) ?? []) {
        found.push([targetName.bqTable(t.table), t.action.kind === 'delete' ? 'delete' : bqActionText(t.action.columns)]);
      }
    } else {
      for (const t of sinks.compacted!.subjects.get(subjectType) ?? []) found.push([targetName.compactedKey(t.topic, t.key), 'delete']);
    }
    // The same target declared twice is erased twice but accounted for once.
    const seen = new Set<string>();
    for (const [target, action] of found) {
      if (seen.has(target)) continue;
      seen.add(target);
      out.push({ sink, target, action });
    }
  }
  return out;
}
