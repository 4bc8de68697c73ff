import kafkajs, { type Admin } from 'kafkajs';
import type { TopicSpec } from './topology.js';

// kafkajs is CommonJS: its enums are reached through the default export under Node's ESM.
const { ConfigResourceTypes } = kafkajs;

/** A topic's current values of the named configs, or null when the topic does not exist. */
export async function describeTopicConfig(admin: Admin, topic: string, names: string[]): Promise<Record<string, string> | null> {
  // Asked first, so a missing topic is an answer and not an error kafkajs logs on its way.
  if (!(await admin.listTopics()).includes(topic)) return null;
  try {
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: names }],
    });
    const entries = described.resources[0]?.configEntries ?? [];
    return Object.fromEntries(entries.map((e) => [e.configName, e.configValue]));
  } catch (error) {
    if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return null;
    throw error;
  }
}

/** Kafka's config source code for a value set on the topic itself (DescribeConfigs). */
const DYNAMIC_TOPIC_CONFIG = 1;

/**
 * Sets configs on an existing topic and keeps the others it has. kafkajs only speaks the
 * non-incremental AlterConfigs, which resets every config not sent, so the topic's own values
 * are read first and sent back with the changes.
 */
export async function alterTopicConfig(admin: Admin, topic: string, configs: Record<string, string>): Promise<void> {
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
  const current = Object.fromEntries(
    (described.resources[0]?.configEntries ?? []).filter((e) => e.configSource === DYNAMIC_TOPIC_CONFIG).map((e) => [e.configName, e.configValue]),
  );
  const merged = { ...current, ...configs };
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: Object.entries(merged).map(([name, value]) => ({ name, value })) }],
  });
}

/**
 * Creates the topics of `specs` that do not exist yet, as the topology says (createTopics would
 * skip existing ones anyway; asking first keeps kafkajs from logging an error on its way).
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      replicationFactor: s.replicationFactor,
      configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
    })),
  });
  return missing.map((s) => s.topic);
}

/** A topic's replication factor (the fewest replicas of any partition), or null when it does not exist. */
export async function replicationOf(admin: Admin, topic: string): Promise<number | null> {
  if (!(await admin.listTopics()).includes(topic)) return null;
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitions = topics[0]?.partitions ?? [];
  return partitions.length === 0 ? null : Math.min(...partitions.map((p) => p.replicas.length));
}
