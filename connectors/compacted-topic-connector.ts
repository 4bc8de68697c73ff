import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import kafkajs, { type Admin, type Kafka, type PartitionMetadata } from 'kafkajs';
import { expand, placeholders } from '../src/catalog/key-template.js';
import { formatQualifiedName } from '../src/catalog/identifiers.js';
import type { CompactedTarget, SinksConfig } from '../src/catalog/sinks.js';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, LetheError, reasonOf, ServiceUnavailableError } from '../src/errors.js';
import { rowValues, subjectValues } from '../src/events/subject-values.js';
import { targetName } from '../src/catalog/targets.js';
import { sendsWithin } from '../src/kafka/record-size.js';
import { describeTopicConfig } from '../src/kafka/topic-config.js';
import { KeptRangeReader } from '../src/kafka/kept-range-reader.js';
import { SerialProducer } from '../src/kafka/serial-producer.js';
import { rangeId, type PartitionRange, type RangesRead } from '../src/kafka/range-reader.js';
import { KeyFormats, type TopicKeys } from './compacted-key-format.js';
import { partitionOf } from './compacted-partitioner.js';
import { keyFormatMismatch, strayFailure, verdictOf, type ReadBack, type WrittenTombstone } from './compacted-verification.js';
import { CompactedKeyIndex, TombstoneLedger, type PartitionKeys } from './compacted-key-index.js';
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

/** One target of one event whose tombstones are written, to be verified. */
interface Pending {
  result: TargetResult;
  target: CompactedTarget;
  keys: TopicKeys;
  texts: string[];
  encoded: Buffer[];
  tombstones: WrittenTombstone[];
}

/**
 * Compacted Kafka topics: a tombstone (null value) per key named by the templates, for the
 * subject or for each of the manifest's related rows, serialized as the target's `keyFormat`
 * says (compaction compares key bytes). A tombstone only erases where the log cleaner compacts,
 * so each topic's cleanup.policy is checked (a failed ack otherwise).
 *
 * Each tombstone goes to the partition the target's `partitioner` gives its key. Then every
 * partition of the topics written is read back to the high watermark taken after writing, from
 * the log start the first time (when at most `historyRecords` offsets precede the tombstones, or
 * the high watermark in a partition without them; else from the first tombstone, or the latest
 * `historyRecords`), and after that from where the last read-back ended: what each partition's
 * records say of each key is kept between applies (`CompactedKeyIndex`: the keys whose latest
 * record has a value, at most `historyRecords` of them per partition). A key is affected when its
 * latest record before its tombstone had a value, and residual when its latest record from the
 * tombstone on has a value (the application wrote it again) or a live record of it sits in another
 * partition (the application partitions keys otherwise: the target fails, naming the
 * partitions). Keys in another serialization than the declared one fail the target. What the
 * read could not establish is said in the result's details (`not-verified`, `affected-unknown`),
 * never counted as clean. The older records are gone only once the cleaner has run: the ack
 * reports delete.retention.ms and max.compaction.lag.ms.
 */
export class CompactedTopicConnector implements SinkConnector {
  readonly sink = 'compacted' as const;
  /** One send at a time, a new producer after a failure: applies of several partitions run at once. */
  private readonly producer: SerialProducer;
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;
  private readonly configs = new Map<string, TopicConfig>();
  private readonly keyFormats: KeyFormats;
  /** The read-back's consumers, joined once and kept: joining a group per batch took most of an apply. */
  private readonly reader: KeptRangeReader;
  /** What the read-backs found in each partition so far, so the next reads only what is new. */
  private readonly index: CompactedKeyIndex;
  /** The read-back under way: one at a time. */
  private readBacks: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: NonNullable<SinksConfig['compacted']>,
    kafka: Kafka,
    /** kafka.maxMessageBytes: what one send may put on a partition (one record batch). */
    private readonly maxMessageBytes: number,
    registryUrl: string,
  ) {
    this.producer = new SerialProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }));
    this.admin = kafka.admin();
    this.reader = new KeptRangeReader(kafka, 'lethe-compacted-verify');
    this.index = new CompactedKeyIndex(config.verification.historyRecords);
    this.keyFormats = new KeyFormats(registryUrl, new SchemaRegistry({ host: registryUrl }));
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
    const watched: Array<{ topic: string; partition: number; key: Buffer }> = [];
    try {
      const { out, pending } = await this.plan(events);
      await this.write(pending, watched);
      await this.verify(pending);
      return out;
    } catch (error) {
      // The broker unreachable, a leader election, a timeout: a wait. A tombstone (key, no value)
      // cannot be refused for its content.
      throw error instanceof LetheError ? error : new ServiceUnavailableError('kafka', `compacted topics: ${reasonOf(error)}`, { cause: error });
    } finally {
      for (const w of watched) this.index.unwatch(w.topic, w.partition, w.key);
    }
  }

  /** Each event's target results; the targets to write, with their keys encoded. */
  private async plan(events: readonly SubjectErased[]): Promise<{ out: TargetResult[][]; pending: Pending[] }> {
    const out: TargetResult[][] = events.map(() => []);
    const pending: Pending[] = [];
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
        const result: TargetResult = { target: name, affected: 0, residual: 0, details: { ...config.values } };
        out[i]!.push(result);
        const { texts, missing } = keysFor(event, target);
        // The related rows the template cannot name fail the target; the others are still erased.
        if (missing !== undefined) result.failed = missing;
        try {
          const keys = await this.keyFormats.forTopic(target.topic, target.keyFormat);
          pending.push({ result, target, keys, texts, encoded: await Promise.all(texts.map((t) => keys.encode(t))), tombstones: [] });
        } catch (error) {
          // A key subject missing, of another kind, or a key its schema does not take: this target's failure.
          if (errorKind(error) !== 'record') throw error;
          result.failed = [result.failed, reasonOf(error)].filter(Boolean).join('; ');
        }
      }
    }
    return { out, pending };
  }

  /**
   * Writes the tombstones, each on the partition the target's partitioner (as the application's
   * producer uses) gives its key, so the send result tells each one's offset. Each key is
   * watched in the read-back's index before its tombstone is sent (and put in `watched`), since
   * the read of another apply may pass the tombstone before this one's send returns.
   */
  private async write(pending: Pending[], watched: Array<{ topic: string; partition: number; key: Buffer }>): Promise<void> {
    const topics = [...new Set(pending.map((p) => p.target.topic))];
    if (topics.length === 0) return;
    const metadata = new Map((await this.admin.fetchTopicMetadata({ topics })).topics.map((t) => [t.name, t.partitions]));
    const written = new Map<string, WrittenTombstone>();
    for (const topic of topics) {
      const partitions: PartitionMetadata[] = metadata.get(topic) ?? [];
      const keys = new Map<string, { key: Buffer; partition: number }>();
      for (const p of pending) {
        if (p.target.topic !== topic) continue;
        for (const key of p.encoded) {
          const partition = partitionOf(p.target.partitioner, topic, partitions, key);
          keys.set(`${partition}/${key.toString('hex')}`, { key, partition });
        }
      }
      for (const { key, partition } of keys.values()) {
        this.index.watch(topic, partition, key);
        watched.push({ topic, partition, key });
      }
      const messages = [...keys.values()].map(({ key, partition }) => ({ key, value: null, partition }));
      // A batch of events with large manifests (an erasure sent in parts) can mean 100,000
      // tombstones: one send is one record batch per partition, refused over message.max.bytes,
      // so the tombstones go in sends bounded by bytes; and by count, since kafkajs takes time
      // growing faster than the records to encode one (22,000 tombstones: 3.6 s in one send,
      // 0.4 s in sends of 5,000, measured here).
      for (const sent of sendsWithin(messages, this.maxMessageBytes, TOMBSTONES_PER_SEND)) {
        const results = await this.producer.send(topic, sent);
        const next = new Map(results.map((r) => [r.partition, r.baseOffset === undefined ? undefined : BigInt(r.baseOffset)]));
        for (const m of sent) {
          const offset = next.get(m.partition);
          // Messages of one partition keep their order in its record batch: base offset + index.
          if (offset === undefined) continue;
          next.set(m.partition, offset + 1n);
          written.set(`${topic}/${m.partition}/${m.key.toString('hex')}`, { topic, partition: m.partition, offset, key: m.key });
        }
      }
    }
    for (const p of pending) {
      const partitions = metadata.get(p.target.topic) ?? [];
      p.tombstones = p.encoded.flatMap((k) => written.get(`${p.target.topic}/${partitionOf(p.target.partitioner, p.target.topic, partitions, k)}/${k.toString('hex')}`) ?? []);
    }
  }

  /**
   * Reads back every partition of the topics written and fills each pending result from what it
   * shows. One read-back at a time: each reads only what its partitions gained since the last one
   * (an apply whose tombstones another's read already passed may read nothing).
   */
  private async verify(pending: Pending[]): Promise<void> {
    const written = pending.flatMap((p) => p.tombstones);
    const turn = this.readBacks.then(async () => {
      const { ranges, read, history, partitions, fetchedAt } = await this.rangesFor(written);
      let done: RangesRead;
      try {
        done = await this.reader.read(ranges, (m, topic, partition) => read.get(rangeId(topic, partition))!.observe(BigInt(m.offset), m.key, m.value), {
          timeoutMs: this.config.verification.timeoutMs,
        });
      } catch (error) {
        // Read partly: what the kept indexes took is not known to end anywhere.
        for (const r of ranges) this.index.drop(r.topic, r.partition);
        throw error;
      }
      for (const r of ranges) {
        const id = rangeId(r.topic, r.partition);
        const keys = read.get(id)!;
        if (done.complete.has(id)) {
          keys.end = r.to > keys.end ? r.to : keys.end;
          keys.readAt = fetchedAt;
        }
        // A partition not read to its end, or past the live keys kept, is read anew by the next apply.
        if (!done.complete.has(id) || keys.overflowed) this.index.drop(r.topic, r.partition);
        if (keys.overflowed) history.set(id, `${id} holds more than ${this.config.verification.historyRecords} keys live or erased since it was read, over the read budget: a record of the keys there (another partitioner) is not ruled out`);
      }
      await this.fill(pending, new TombstoneLedger(read, written), { done, history, partitions });
    });
    this.readBacks = turn.catch(() => undefined);
    await turn;
  }

  private async fill(pending: Pending[], ledger: TombstoneLedger, read: { done: RangesRead; history: Map<string, string>; partitions: Map<string, number[]> }): Promise<void> {
    const readBack: ReadBack = {
      coverage: (topic, partition) => {
        const id = rangeId(topic, partition);
        if (!read.done.complete.has(id)) return { complete: false, reason: `${topic}/${partition} was not read back to its high watermark within ${this.config.verification.timeoutMs} ms` };
        return { complete: true, history: read.history.get(id) ?? true };
      },
      partitions: (topic) => read.partitions.get(topic) ?? [],
    };
    for (const p of pending) {
      const mismatch = keyFormatMismatch(p.target.topic, p.target.keyFormat, ledger.formatsSeen(p.target.topic));
      if (mismatch !== null) {
        p.result.failed = [p.result.failed, mismatch].filter(Boolean).join('; ');
        continue;
      }
      if (p.tombstones.length < p.encoded.length) {
        p.result.details = { ...p.result.details, 'not-verified': `the broker's send result gave no offset for ${p.encoded.length - p.tombstones.length} tombstones` };
      }
      const verdict = verdictOf(p.tombstones, ledger, readBack, await this.sameKeyLive(p, ledger));
      p.result.affected = verdict.affected;
      p.result.residual = verdict.residual;
      p.result.details = { ...verdict.details, ...p.result.details };
      if (verdict.strays.length > 0) p.result.failed = [p.result.failed, strayFailure(p.target.topic, p.target.partitioner, verdict.strays)].filter(Boolean).join('; ');
    }
  }

  /**
   * Per partition of each topic written, the range to read, to the high watermark now, and the
   * index it is read into: the kept one from where the last read ended; else, when at most
   * `historyRecords` offsets precede its first tombstone (or, without tombstones, its end), a new
   * kept one from the log start; else one for this apply alone from the first tombstone, or the
   * latest `historyRecords`, the reason kept in `history`. A kept index is read anew when its
   * partition's log start moved past its start (retention), its end is past the high watermark (a
   * truncated log), or it was last read longer ago than half the topic's delete.retention.ms (less
   * the read's time limit: the cleaner may have removed a tombstone since).
   */
  private async rangesFor(written: readonly WrittenTombstone[]) {
    const first = new Map<string, WrittenTombstone>();
    for (const t of written) {
      const id = rangeId(t.topic, t.partition);
      if (!first.has(id) || t.offset < first.get(id)!.offset) first.set(id, t);
    }
    const ranges: PartitionRange[] = [];
    const read = new Map<string, PartitionKeys>();
    const history = new Map<string, string>();
    const partitions = new Map<string, number[]>();
    const budget = BigInt(this.config.verification.historyRecords);
    const fetchedAt = Date.now();
    for (const topic of new Set(written.map((t) => t.topic))) {
      // A tombstone written after a kept index's end stays in the log at least delete.retention.ms:
      // an index read longer ago than half of that may have missed one the cleaner removed since.
      const retentionMs = Number((await this.topicConfig(topic)).values['delete.retention.ms'] ?? 86_400_000);
      const offsets = await this.admin.fetchTopicOffsets(topic);
      partitions.set(topic, offsets.map((o) => o.partition));
      for (const o of offsets) {
        const id = rangeId(topic, o.partition);
        const t = first.get(id);
        const [low, high] = [BigInt(o.low), BigInt(o.high)];
        const kept = this.index.kept(topic, o.partition);
        // (The read itself may take up to timeoutMs after the index's last read.)
        if (kept && low <= kept.start && kept.end <= high && fetchedAt - kept.readAt + this.config.verification.timeoutMs < retentionMs / 2) {
          read.set(id, kept);
          ranges.push({ topic, partition: o.partition, from: kept.end, to: high });
          continue;
        }
        this.index.drop(topic, o.partition);
        // A partition without tombstones is read for the keys too: an application that partitions
        // keys otherwise (or a topic that gained partitions) put them there.
        const before = (t?.offset ?? high) - low;
        if (before <= budget) {
          read.set(id, this.index.open(topic, o.partition, low, true));
          ranges.push({ topic, partition: o.partition, from: low, to: high });
          continue;
        }
        history.set(
          id,
          t
            ? `${before} offsets precede the tombstones in ${id}, over the read budget of ${budget}`
            : `${id} holds ${before} offsets, over the read budget of ${budget}: only its latest ${budget} were read, so a record of the keys there (another partitioner) is not ruled out`,
        );
        const from = t ? t.offset : high - budget;
        read.set(id, this.index.open(topic, o.partition, from, false));
        ranges.push({ topic, partition: o.partition, from, to: high });
      }
    }
    return { ranges, read, history, partitions, fetchedAt };
  }

  /** Keys framed under another schema id that are one of the target's keys, and still have a value. */
  private async sameKeyLive(p: Pending, ledger: TombstoneLedger): Promise<number> {
    if (p.keys.format === 'string' || p.texts.length === 0) return 0;
    const wanted = new Set(p.texts.map((t) => p.keys.logical(t)));
    let live = 0;
    for (const key of ledger.foreignKeys(p.target.topic)) {
      if (wanted.has((await p.keys.logicalOf(key)) ?? '')) live += 1;
    }
    return live;
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
    await this.reader.close();
    this.index.clear();
    // A later apply connects again (a runner restarted with the same connector).
    const connected = this.connected;
    this.connected = undefined;
    if (connected) await Promise.all([this.producer.disconnect(), this.admin.disconnect()]);
  }
}

function compacts(config: TopicConfig): boolean {
  return !config.missing && (config.values['cleanup.policy'] ?? 'delete').split(',').map((p) => p.trim()).includes('compact');
}

/**
 * The record keys to tombstone for one target: the subject's, or each matching related row's;
 * `missing` says why a related row's key cannot be named (its event carries no such column).
 */
function keysFor(event: SubjectErased, target: CompactedTarget): { texts: string[]; missing?: string } {
  if (!target.related) {
    const key = expand(target.key, subjectValues(event));
    return key === undefined ? { texts: [], missing: `the template ${target.key} names a value the event does not carry` } : { texts: [key] };
  }
  const table = formatQualifiedName(target.related);
  const texts: string[] = [];
  const absent = new Set<string>();
  for (const row of event.related) {
    if (row.table !== table) continue;
    const values = rowValues(event, row);
    const key = expand(target.key, values);
    if (key !== undefined) texts.push(key);
    else for (const p of placeholders(target.key, true)) if (p.startsWith('row.') && values.row?.[p.slice(4)] === undefined) absent.add(p.slice(4));
  }
  if (absent.size === 0) return { texts };
  return { texts, missing: `a related row of ${table} carries no ${[...absent].join(', ')} (the event names related rows by their primary key only; does the table have one?)` };
}
