import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { configuredSinks } from '../catalog/sinks.js';
import { formatDuration } from '../catalog/duration.js';
import { valueSubject } from '../events/event-codec.js';
import { trackerSchemaSql } from '../tracker/status-store.js';

export const dlqTopicOf = (sink: string) => `lethe.dlq.${sink}`;
export const retryTopicOf = (sink: string) => `lethe.retry.${sink}`;

export const ERASURE_TOPIC_PARTITIONS = 6;

export type InitStep =
  | { kind: 'sql'; description: string; sql: string }
  | { kind: 'topic'; description: string; topic: string; partitions: number; configs: Record<string, string> }
  | { kind: 'topic-config'; description: string; topic: string; configs: Record<string, string> }
  | { kind: 'tracker-sql'; description: string; sql: string }
  | { kind: 'schema'; description: string; topic: string; schema: 'subject-erased' | 'erasure-ack' | 'erasure-status' };

/** Topics Lethe owns and the configs it creates them with. */
export function topicSpecs(catalog: Catalog): Array<Extract<InitStep, { kind: 'topic' }>> {
  const erasures = catalog.kafka.topics.erasures;
  const acks = catalog.kafka.topics.acks;
  return [
    {
      kind: 'topic',
      topic: erasures,
      partitions: ERASURE_TOPIC_PARTITIONS,
      // The erasure log is the record replay reads after a backup restore: kept, not compacted
      // (every event of a subject matters), and for longer than the longest backup lives.
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(erasureLogRetentionMs(catalog)), 'min.insync.replicas': '1' },
      description: `create topic ${erasures}`,
    },
    {
      kind: 'topic',
      topic: acks,
      partitions: ERASURE_TOPIC_PARTITIONS,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(90 * 24 * 3600 * 1000) },
      description: `create topic ${acks}`,
    },
    {
      kind: 'topic',
      topic: catalog.kafka.topics.status,
      partitions: ERASURE_TOPIC_PARTITIONS,
      // The latest status per erasure id is what a dashboard needs: compacted.
      configs: { 'cleanup.policy': 'compact' },
      description: `create topic ${catalog.kafka.topics.status}`,
    },
    // One dead-letter topic per configured sink: what it could not erase, kept for re-driving.
    ...configuredSinks(catalog.sinks).map((sink) => ({
      kind: 'topic' as const,
      topic: dlqTopicOf(sink),
      partitions: 1,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' },
      description: `create topic ${dlqTopicOf(sink)}`,
    })),
    // One retry topic per sink: deferred erasures wait there, durably, until they are due.
    ...configuredSinks(catalog.sinks).map((sink) => ({
      kind: 'topic' as const,
      topic: retryTopicOf(sink),
      partitions: ERASURE_TOPIC_PARTITIONS,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' },
      description: `create topic ${retryTopicOf(sink)}`,
    })),
  ];
}

/** Time to restore a backup and replay the log into it, on top of the backup's own retention. */
export const REPLAY_MARGIN_MS = 30 * 86_400_000;

/**
 * How long the erasure log must be kept: longer than the longest backup lives, plus a margin to
 * restore and replay it; forever (-1) when the catalog declares no backups.
 */
export function erasureLogRetentionMs(catalog: Pick<Catalog, 'backups'>): number {
  if (catalog.backups.length === 0) return -1;
  return Math.max(...catalog.backups.map((b) => b.retentionMs)) + REPLAY_MARGIN_MS;
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
      return `${step.description} (partitions=${step.partitions}, ${Object.entries(step.configs).map(([k, v]) => `${k}=${v}`).join(', ')})`;
    case 'topic-config':
      return `${step.description} (${Object.entries(step.configs).map(([k, v]) => `${k}=${v}`).join(', ')})`;
    case 'schema':
    case 'tracker-sql':
      return step.description;
  }
}
