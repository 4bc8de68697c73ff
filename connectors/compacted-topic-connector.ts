import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import { expand } from '../src/catalog/key-template.js';
import { formatQualifiedName } from '../src/catalog/identifiers.js';
import type { CompactedTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { LetheError, reasonOf, ServiceUnavailableError } from '../src/errors.js';
import { rowValues, subjectValues } from '../src/events/subject-values.js';
import { targetName } from '../src/catalog/targets.js';
import { sendsWithin } from '../src/kafka/record-size.js';
import { describeTopicConfig } from '../src/kafka/topic-config.js';
import type { SinkConnector, TargetResult } from './sink-connector.js';

// kafkajs is CommonJS; Node's ESM loader does not see every export of it by name.
const { Partitioners } = kafkajs;

const CONFIG_NAMES = ['cleanup.policy', 'delete.retention.ms', 'max.compaction.lag.ms', 'min.compaction.lag.ms'];
const CONFIG_TTL_MS = 60_000;
const TOMBSTONES_PER_SEND = 5_000;

interface TopicConfig {
  at: number;
  values: Record<string, string>;
  missing?: boolean;
}

/**
 * Compacted Kafka topics: a tombstone (null value) per key named by the templates, for the
 * subject or for each of the manifest's related rows. A tombstone only erases where the log
 * cleaner compacts, so each topic's cleanup.policy is checked (a failed ack otherwise), and the
 * ack reports delete.retention.ms and max.compaction.lag.ms: the older records are gone only
 * once compaction has run.
 */
export class CompactedTopicConnector implements SinkConnector {
  readonly sink = 'compacted' as const;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;
  private readonly configs = new Map<string, TopicConfig>();

  constructor(
    private readonly config: NonNullable<SinksConfig['compacted']>,
    kafka: Kafka,
    /** kafka.maxMessageBytes: what one send may put on a partition (one record batch). */
    private readonly maxMessageBytes: number,
  ) {
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.admin = kafka.admin();
  }

  handles(subjectType: string): boolean {
    return this.config.subjects.has(subjectType);
  }

  async apply(events: readonly SubjectErased[]): Promise<TargetResult[][]> {
    // A connect that failed is tried again on the next apply, not remembered as failed.
    this.connected ??= Promise.all([this.producer.connect(), this.admin.connect()]).then(
      () => undefined,
      (error: unknown) => {
        this.connected = undefined;
        throw new ServiceUnavailableError('kafka', `compacted topics: connecting: ${reasonOf(error)}`, { cause: error });
      },
    );
    await this.connected;
    const out: TargetResult[][] = events.map(() => []);
    const tombstones = new Map<string, string[]>();
    const pending: Array<{ event: number; result: TargetResult; topic: string; keys: string[] }> = [];
    try {
      for (const [i, event] of events.entries()) {
        for (const target of this.config.subjects.get(event.subjectType) ?? []) {
          const config = await this.topicConfig(target.topic);
          const name = targetName.compactedKey(target.topic, target.key);
          if (config.missing) {
            out[i]!.push({ target: name, affected: 0, residual: 0, failed: `no such topic ${target.topic}` });
            continue;
          }
          const policy = config.values['cleanup.policy'] ?? 'delete';
          if (!compacts(config)) {
            out[i]!.push({ target: name, affected: 0, residual: 0, failed: `topic ${target.topic} has cleanup.policy=${policy}: a tombstone erases nothing there`, details: config.values });
            continue;
          }
          const keys = keysFor(event, target);
          const result: TargetResult = { target: name, affected: keys.length, residual: 0, details: config.values };
          out[i]!.push(result);
          pending.push({ event: i, result, topic: target.topic, keys });
          tombstones.set(target.topic, [...(tombstones.get(target.topic) ?? []), ...keys]);
        }
      }
      // A batch of events with large manifests (an erasure sent in parts) can mean 100,000
      // tombstones: one send is one record batch per partition, refused over message.max.bytes,
      // so the tombstones go in sends bounded by bytes; and by count, since kafkajs takes time
      // growing faster than the records to encode one (22,000 tombstones: 3.6 s in one send,
      // 0.4 s in sends of 5,000, measured here).
      for (const [topic, keys] of tombstones) {
        for (const messages of sendsWithin(keys.map((key) => ({ key, value: null })), this.maxMessageBytes, TOMBSTONES_PER_SEND)) {
          await this.producer.send({ topic, acks: -1, messages });
        }
      }
    } catch (error) {
      // The broker unreachable, a leader election, a timeout: a wait. A tombstone (key, no value)
      // cannot be refused for its content.
      throw error instanceof LetheError ? error : new ServiceUnavailableError('kafka', `compacted topics: ${reasonOf(error)}`, { cause: error });
    }
    return out;
  }

  private async topicConfig(topic: string): Promise<TopicConfig> {
    const cached = this.configs.get(topic);
    if (cached && Date.now() - cached.at < CONFIG_TTL_MS) return cached;
    const values = await describeTopicConfig(this.admin, topic, CONFIG_NAMES);
    const config: TopicConfig = values === null ? { at: Date.now(), values: {}, missing: true } : { at: Date.now(), values };
    // Only a topic fit for tombstones is remembered: one an operator is fixing (created, set to
    // compact) is looked at again on the next erasure, so a re-driven erasure sees the fix.
    if (compacts(config)) this.configs.set(topic, config);
    else this.configs.delete(topic);
    return config;
  }

  async close(): Promise<void> {
    if (this.connected) await Promise.all([this.producer.disconnect(), this.admin.disconnect()]);
  }
}

function compacts(config: TopicConfig): boolean {
  return !config.missing && (config.values['cleanup.policy'] ?? 'delete').split(',').map((p) => p.trim()).includes('compact');
}

/** The record keys to tombstone for one target: the subject's, or each matching related row's. */
function keysFor(event: SubjectErased, target: CompactedTarget): string[] {
  if (!target.related) {
    const key = expand(target.key, subjectValues(event));
    return key === undefined ? [] : [key];
  }
  const table = formatQualifiedName(target.related);
  return event.related
    .filter((row) => row.table === table)
    .map((row) => expand(target.key, rowValues(event, row)))
    .filter((k): k is string => k !== undefined);
}
