import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { formatDuration } from '../catalog/duration.js';
import { valueSubject } from '../events/event-codec.js';
import { trackerSchemaSql } from '../tracker/status-store.js';
import { erasureLogRetentionMs, REPLAY_MARGIN_MS, topologyOf, type TopicSpec } from '../kafka/topology.js';

export type InitStep =
  | { kind: 'sql'; description: string; sql: string }
  | ({ kind: 'topic'; description: string } & TopicSpec)
  | { kind: 'topic-config'; description: string; topic: string; configs: Record<string, string> }
  | { kind: 'tracker-sql'; description: string; sql: string }
  | { kind: 'schema'; description: string; topic: string; schema: 'subject-erased' | 'erasure-ack' | 'erasure-status' };

export { erasureLogRetentionMs, REPLAY_MARGIN_MS };

/** Topics Lethe owns and what it creates them with (the topology's specs, as init steps). */
export function topicSpecs(catalog: Catalog): Array<Extract<InitStep, { kind: 'topic' }>> {
  return topologyOf(catalog)
    .specs()
    .map((spec) => ({ kind: 'topic' as const, ...spec, description: `create topic ${spec.topic} (${spec.purpose})` }));
}

/** Doctor's check of the erasure log's retention against the catalog's backups. `null`: no such topic. */
export function checkErasureLog(catalog: Pick<Catalog, 'backups' | 'kafka'>, retentionMs: number | null): Finding {
  const topic = catalog.kafka.topics.erasures;
  const subject = `topic ${topic}`;
  if (retentionMs === null) return { level: 'problem', subject, message: 'does not exist', fix: 'lethe init' };
  if (retentionMs < 0) return { level: 'ok', subject, message: 'kept forever (retention.ms=-1)' };
  const longest = [...catalog.backups].sort((a, b) => b.retentionMs - a.retentionMs)[0];
  if (longest && retentionMs < longest.retentionMs) {
    return {
      level: 'warn',
      subject,
      message: `retention ${formatDuration(retentionMs)} is shorter than backup ${longest.name}'s ${formatDuration(longest.retentionMs)}: erasures older than ${formatDuration(retentionMs)} could not be replayed after restoring it`,
      fix: `kafka-configs.sh --alter --entity-type topics --entity-name ${topic} --add-config retention.ms=${erasureLogRetentionMs(catalog)}`,
      initFixes: true,
    };
  }
  return { level: 'ok', subject, message: `retention ${formatDuration(retentionMs)} outlives every backup` };
}

/**
 * What \`lethe init\` does: the database fixes doctor marks as Lethe's to make (publication, slot),
 * the topics that do not exist yet, and the schema registration. Pure; the caller applies it.
 */
export function planInit(catalog: Catalog, findings: Finding[], existingTopics: ReadonlySet<string>, erasureLogRetention: number | null = null): InitStep[] {
  const steps: InitStep[] = [];
  for (const finding of findings) {
    if (finding.level === 'problem' && finding.initFixes && finding.fix) {
      steps.push({ kind: 'sql', description: `${finding.subject}: ${finding.message}`, sql: finding.fix });
    }
  }
  for (const spec of topicSpecs(catalog)) {
    if (!existingTopics.has(spec.topic)) steps.push(spec);
  }
  const needed = erasureLogRetentionMs(catalog);
  const erasures = catalog.kafka.topics.erasures;
  if (existingTopics.has(erasures) && erasureLogRetention !== null && erasureLogRetention >= 0 && needed >= 0 && erasureLogRetention < needed) {
    steps.push({ kind: 'topic-config', topic: erasures, configs: { 'retention.ms': String(needed) }, description: `raise the retention of ${erasures} to outlive the longest backup` });
  }
  steps.push({ kind: 'tracker-sql', description: `create the tracker's tables in schema ${catalog.tracker.schema} (if missing)`, sql: trackerSchemaSql(catalog.tracker.schema) });
  for (const [topic, schema] of [
    [catalog.kafka.topics.erasures, 'subject-erased'],
    [catalog.kafka.topics.acks, 'erasure-ack'],
    [catalog.kafka.topics.status, 'erasure-status'],
  ] as const) {
    steps.push({ kind: 'schema', topic, schema, description: `register schemas/${schema}.avsc as ${valueSubject(topic)} (BACKWARD)` });
  }
  return steps;
}

export function describeStep(step: InitStep): string {
  switch (step.kind) {
    case 'sql':
      return step.sql;
    case 'topic':
      return `${step.description} (partitions=${step.partitions}, replication=${step.replicationFactor === -1 ? 'broker default' : step.replicationFactor}, ${Object.entries(step.configs).map(([k, v]) => `${k}=${v}`).join(', ')})`;
    case 'topic-config':
      return `${step.description} (${Object.entries(step.configs).map(([k, v]) => `${k}=${v}`).join(', ')})`;
    case 'schema':
    case 'tracker-sql':
      return step.description;
  }
}
