import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { configuredSinks } from '../catalog/sinks.js';
import { valueSubject } from '../events/event-codec.js';

export const dlqTopicOf = (sink: string) => `lethe.dlq.${sink}`;
export const retryTopicOf = (sink: string) => `lethe.retry.${sink}`;

export const ERASURE_TOPIC_PARTITIONS = 6;

export type InitStep =
  | { kind: 'sql'; description: string; sql: string }
  | { kind: 'topic'; description: string; topic: string; partitions: number; configs: Record<string, string> }
  | { kind: 'schema'; description: string; topic: string; schema: 'subject-erased' | 'erasure-ack' };

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
      // (every event of a subject matters), and never expired by age by default.
      configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'min.insync.replicas': '1' },
      description: `create topic ${erasures}`,
    },
    {
      kind: 'topic',
      topic: acks,
      partitions: ERASURE_TOPIC_PARTITIONS,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(90 * 24 * 3600 * 1000) },
      description: `create topic ${acks}`,
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

/**
 * What `lethe init` does: the database fixes doctor marks as Lethe's to make (publication, slot),
 * the topics that do not exist yet, and the schema registration. Pure; the caller applies it.
 */
export function planInit(catalog: Catalog, findings: Finding[], existingTopics: ReadonlySet<string>): InitStep[] {
  const steps: InitStep[] = [];
  for (const finding of findings) {
    if (finding.level === 'problem' && finding.initFixes && finding.fix) {
      steps.push({ kind: 'sql', description: `${finding.subject}: ${finding.message}`, sql: finding.fix });
    }
  }
  for (const spec of topicSpecs(catalog)) {
    if (!existingTopics.has(spec.topic)) steps.push(spec);
  }
  for (const [topic, schema] of [
    [catalog.kafka.topics.erasures, 'subject-erased'],
    [catalog.kafka.topics.acks, 'erasure-ack'],
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
    case 'schema':
      return step.description;
  }
}
