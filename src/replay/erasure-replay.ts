import { PrimaryConnector } from '../../connectors/postgres-primary-connector.js';
import { createConnector } from '../../connectors/connector-factory.js';
import type { SinkConnector } from '../../connectors/sink-connector.js';
import { SinkRunner, type ReplayProgress } from '../../consumers/sink-runner.js';
import type { Catalog } from '../catalog/catalog.js';
import { configuredSinks, type SinkName } from '../catalog/sinks.js';
import { UsageError } from '../errors.js';
import { createKafka } from '../kafka/kafka-client.js';
import { topologyOf } from '../kafka/topology.js';
import type { Logger } from '../logger.js';

export interface ReplayOptions {
  catalog: Catalog;
  /** A configured sink, or 'primary' for a restored primary database. */
  sink: string;
  since: number;
  logger: Logger;
  onProgress?: (progress: ReplayProgress) => void;
  signal?: AbortSignal;
  /** For tests: the connector to replay through instead of the catalog's. */
  connector?: SinkConnector;
}

export interface ReplaySummary extends ReplayProgress {
  sink: string;
  groupId: string;
  since: string;
  /** Records of the erasure log in the replayed range, per partition. */
  range: Array<{ partition: number; from: string; to: string }>;
}

/** The sinks a replay can target: every configured one, and the primary database. */
export function replayTargets(catalog: Catalog): string[] {
  return [...configuredSinks(catalog.sinks), 'primary'];
}

/**
 * Replays the erasure log into one sink after a backup of its store was restored: a fresh consumer
 * group starts at the offsets of `since` and reads up to the end offsets captured at start, through
 * the same connector and runner as the live group (so the same retries, dead letters and acks,
 * flagged as replay), then the temporary group is deleted.
 */
export async function replayErasures(options: ReplayOptions): Promise<ReplaySummary> {
  const { catalog, sink, since, logger } = options;
  if (!replayTargets(catalog).includes(sink)) {
    throw new UsageError(`--sink ${sink}: not a sink of this catalog (replay targets: ${replayTargets(catalog).join(', ')})`);
  }
  const topology = topologyOf(catalog);
  const topic = topology.erasures;
  const log = logger.child({ service: `replay:${sink}` });
  const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: `lethe-replay-${sink}`, logger: log });
  const admin = kafka.admin();
  await admin.connect();
  const groupId = topology.replayGroup(sink, new Date());
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const starts = await admin.fetchTopicOffsetsByTimestamp(topic, since);
    const range = ends.map((end) => {
      const start = starts.find((s) => s.partition === end.partition);
      // A time after the partition's last record gives -1 or the end: nothing to replay there.
      const from = start && start.offset !== '-1' && BigInt(start.offset) < BigInt(end.high) ? start.offset : end.high;
      return { partition: end.partition, from, to: end.high };
    });
    await admin.setOffsets({ groupId, topic, partitions: range.map((r) => ({ partition: r.partition, offset: r.from })) });
    let last: ReplayProgress = { events: 0, acks: { APPLIED: 0, NOTHING_TO_DO: 0, DEFERRED: 0, FAILED: 0, HELD: 0 }, affected: 0, remaining: range.reduce((n, r) => n + BigInt(r.to) - BigInt(r.from), 0n) };
    options.onProgress?.(last);
    const connector = options.connector ?? (sink === 'primary' ? new PrimaryConnector(catalog) : createConnector(sink as SinkName, catalog, log));
    log.info({ groupId, topic, since: new Date(since).toISOString(), records: Number(last.remaining) }, 'replay starting');
    await new SinkRunner({
      catalog,
      connector,
      logger: log,
      replay: {
        groupId,
        startOffsets: new Map(range.map((r) => [r.partition, BigInt(r.from)])),
        endOffsets: new Map(range.map((r) => [r.partition, BigInt(r.to)])),
        onProgress: (p) => {
          last = p;
          options.onProgress?.(p);
        },
      },
    }).run(options.signal ?? new AbortController().signal);
    log.info({ groupId, events: last.events, acks: last.acks, remaining: Number(last.remaining) }, 'replay finished');
    return { ...last, sink, groupId, since: new Date(since).toISOString(), range };
  } finally {
    // The group was only for this replay; its committed offsets mean nothing afterwards.
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
