import type { Catalog } from '../catalog/catalog.js';
import { configuredSinks } from '../catalog/sinks.js';

/**
 * Lethe's Kafka topology, owned here and nowhere else: every topic it reads or writes, each
 * topic's partition count and configs, and every consumer group id.
 *
 * Groups and Lethe's own topics (retry, dead-letter, sink health) live under the deployment's
 * namespace: `kafka.groupPrefix`, or else the erasures topic's name. Two catalogs on one cluster
 * with different erasures topics therefore never share a group: kafkajs' round-robin assigner
 * spreads the union of the members' topics over all members of a group, and a member drops
 * partitions of topics it does not subscribe to, so a shared group leaves partitions unread.
 */
export interface Topology {
  readonly namespace: string;
  readonly erasures: string;
  readonly acks: string;
  readonly status: string;
  /** Where sinks say they wait for a store (JSON, compacted: the latest per sink instance). */
  readonly health: string;
  dlq(sink: string): string;
  retry(sink: string): string;
  sinkGroup(sink: string): string;
  readonly trackerGroup: string;
  /** A one-off group of `lethe replay`, new per run, so it starts where it is told. */
  replayGroup(sink: string, at: Date): string;
  /** Every topic Lethe owns for this catalog, with what it is created with. */
  specs(): TopicSpec[];
  /** A sink's dead-letter and retry topics (any sink, `primary` of a replay too). */
  sinkSpecs(sink: string): TopicSpec[];
  spec(topic: string): TopicSpec | undefined;
  /** The consumer groups this deployment's services join. */
  groups(): Array<{ service: string; group: string }>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** -1: the broker's default.replication.factor. */
  replicationFactor: number;
  configs: Record<string, string>;
  /** What the topic is for, in doctor's and init's words. */
  purpose: string;
}

/**
 * Partitions of the erasures topic, and of every topic read beside it: a sink group's members
 * (and its retry topic) scale up to this many instances.
 */
export const ERASURE_TOPIC_PARTITIONS = 6;
const ACK_RETENTION_MS = 90 * 86_400_000;
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

export function topologyOf(catalog: Pick<Catalog, 'kafka' | 'sinks' | 'backups'>): Topology {
  const { topics, groupPrefix, replication } = catalog.kafka;
  const namespace = groupPrefix ?? topics.erasures;
  const health = `${namespace}.sink-health`;
  const dlq = (sink: string) => `${namespace}.dlq.${sink}`;
  const retry = (sink: string) => `${namespace}.retry.${sink}`;
  const sinks = configuredSinks(catalog.sinks);
  const rf = replication.factor;
  // Topics whose loss would lose an erasure or its proof (the log, acks, dead letters, retries)
  // get min.insync.replicas; the status and health topics can be rebuilt.
  const durable = { 'min.insync.replicas': String(replication.minInsyncReplicas) };

  const sinkSpecs = (sink: string): TopicSpec[] => [
    {
      topic: dlq(sink),
      partitions: 1,
      replicationFactor: rf,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', ...durable },
      purpose: `what sink ${sink} could not erase`,
    },
    {
      topic: retry(sink),
      partitions: ERASURE_TOPIC_PARTITIONS,
      replicationFactor: rf,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', ...durable },
      purpose: `erasures sink ${sink} tries again later`,
    },
  ];
  const specs = (): TopicSpec[] => [
    {
      topic: topics.erasures,
      partitions: ERASURE_TOPIC_PARTITIONS,
      replicationFactor: rf,
      // The erasure log is the record replay reads after a backup restore: kept, not compacted
      // (every event of a subject matters), and for longer than the longest backup lives.
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(erasureLogRetentionMs(catalog)), ...durable },
      purpose: 'the erasure log',
    },
    {
      topic: topics.acks,
      partitions: ERASURE_TOPIC_PARTITIONS,
      replicationFactor: rf,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(ACK_RETENTION_MS), ...durable },
      purpose: "the sinks' acknowledgements",
    },
    {
      topic: topics.status,
      partitions: ERASURE_TOPIC_PARTITIONS,
      replicationFactor: rf,
      // The latest status per erasure id is what a dashboard needs: compacted.
      configs: { 'cleanup.policy': 'compact' },
      purpose: "the tracker's status per erasure",
    },
    {
      topic: health,
      partitions: 1,
      replicationFactor: rf,
      configs: { 'cleanup.policy': 'compact' },
      purpose: 'which sinks wait for their store',
    },
    // Per sink: a dead-letter topic (what it could not erase, kept for re-driving) and a retry
    // topic (deferred and re-driven erasures wait there, durably, until due).
    ...sinks.flatMap(sinkSpecs),
  ];

  const sinkGroup = (sink: string) => `${namespace}.sink.${sink}`;
  const trackerGroup = `${namespace}.tracker`;
  return {
    namespace,
    erasures: topics.erasures,
    acks: topics.acks,
    status: topics.status,
    health,
    dlq,
    retry,
    sinkGroup,
    trackerGroup,
    replayGroup: (sink, at) => `${namespace}.replay.${sink}.${at.toISOString().replace(/[:.]/g, '-')}`,
    specs,
    sinkSpecs,
    spec: (topic) => specs().find((s) => s.topic === topic),
    groups: () => [...sinks.map((sink) => ({ service: `sink:${sink}`, group: sinkGroup(sink) })), { service: 'tracker', group: trackerGroup }],
  };
}
