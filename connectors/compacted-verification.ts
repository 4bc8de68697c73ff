import { framedSchemaId, type KeyFormat } from './compacted-key-format.js';

/** A tombstone as the broker stored it: where the producer's send result puts it. */
export interface WrittenTombstone {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer;
}

interface KeyState {
  /** The first tombstone written for the key in this batch. */
  tombstone: bigint;
  /** A record with a value for the key before the tombstone. */
  hadValue: boolean;
  /** Whether the key's latest record from the tombstone on has a value (a later write). */
  live: boolean;
}

/** Keys read per topic, by their serialization (tombstones Lethe wrote left out). */
export interface KeyFormatsSeen {
  framed: Map<number, number>;
  plain: number;
}

const keyId = (topic: string, partition: number, key: Buffer) => `${topic}/${partition}/${key.toString('hex')}`;
const recordId = (topic: string, partition: number, offset: bigint) => `${topic}/${partition}@${offset}`;

/**
 * What a read of the tombstones' partitions shows. Records arrive per partition in offset
 * order, so the last one seen for a key from its tombstone on is its latest up to the read's
 * end. A key is compared byte for byte, as the log cleaner compares it; a Confluent-framed key
 * under a schema id other than the tombstones' is kept aside (latest state per key bytes) to be
 * decoded: it may be the same key in other bytes, which no tombstone of these bytes erases.
 * Pure.
 */
export class TombstoneLedger {
  private readonly keys = new Map<string, KeyState>();
  private readonly own = new Set<string>();
  private readonly ids = new Map<string, Set<number>>();
  private readonly seen = new Map<string, KeyFormatsSeen>();
  private readonly foreign = new Map<string, Map<string, { key: Buffer; live: boolean }>>();

  add(t: WrittenTombstone): void {
    const id = keyId(t.topic, t.partition, t.key);
    const state = this.keys.get(id);
    if (!state || t.offset < state.tombstone) this.keys.set(id, { tombstone: t.offset, hadValue: false, live: false });
    this.own.add(recordId(t.topic, t.partition, t.offset));
    const schemaId = framedSchemaId(t.key);
    if (schemaId !== null) this.ids.set(t.topic, (this.ids.get(t.topic) ?? new Set()).add(schemaId));
  }

  observe(topic: string, partition: number, offset: bigint, key: Buffer | null, value: Buffer | null): void {
    if (key === null) return;
    const state = this.keys.get(keyId(topic, partition, key));
    if (state) {
      if (offset < state.tombstone) state.hadValue ||= value !== null;
      else state.live = value !== null;
    }
    if (this.own.has(recordId(topic, partition, offset))) return;
    const seen = this.seen.get(topic) ?? { framed: new Map(), plain: 0 };
    this.seen.set(topic, seen);
    const schemaId = framedSchemaId(key);
    if (schemaId === null) {
      seen.plain += 1;
      return;
    }
    seen.framed.set(schemaId, (seen.framed.get(schemaId) ?? 0) + 1);
    if (!state && !(this.ids.get(topic)?.has(schemaId) ?? false)) {
      const keys = this.foreign.get(topic) ?? new Map<string, { key: Buffer; live: boolean }>();
      this.foreign.set(topic, keys);
      keys.set(`${partition}/${key.toString('hex')}`, { key, live: value !== null });
    }
  }

  stateOf(t: Pick<WrittenTombstone, 'topic' | 'partition' | 'key'>): Readonly<KeyState> | undefined {
    return this.keys.get(keyId(t.topic, t.partition, t.key));
  }

  formatsSeen(topic: string): KeyFormatsSeen {
    return this.seen.get(topic) ?? { framed: new Map(), plain: 0 };
  }

  /** Framed keys under schema ids the tombstones do not use, with whether their latest record has a value. */
  foreignKeys(topic: string): Array<{ key: Buffer; live: boolean }> {
    return [...(this.foreign.get(topic)?.values() ?? [])];
  }
}

/**
 * The serialization a topic's keys show against the one a target declares, or null when they
 * agree. A string key never starts with a NUL byte in practice; a framed one always does.
 */
export function keyFormatMismatch(topic: string, declared: KeyFormat, seen: KeyFormatsSeen): string | null {
  if (declared === 'string' && seen.framed.size > 0) {
    const ids = [...seen.framed.keys()].sort((a, b) => a - b).join(', ');
    const n = [...seen.framed.values()].reduce((a, b) => a + b, 0);
    return `topic ${topic} holds Confluent-framed keys (schema id ${ids}; ${n} records read), but the catalog declares keyFormat string: a string tombstone erases none of them`;
  }
  if (declared !== 'string' && seen.plain > 0) {
    return `topic ${topic} holds ${seen.plain} records read whose keys are not Confluent-framed (plain bytes), but the catalog declares keyFormat ${declared}`;
  }
  return null;
}

/**
 * How far the read got in one partition: to the high watermark taken after writing (from the
 * log start, or only from the first tombstone, saying why), or not to its end.
 */
export type PartitionCoverage = { complete: true; history: true | string } | { complete: false; reason: string };

export interface TargetVerdict {
  affected: number;
  residual: number;
  details: Record<string, string>;
}

/**
 * One target's verdict from its tombstones and the read: affected counts the keys that had a
 * record with a value before their tombstone; residual, the keys whose latest record from the
 * tombstone on has a value, plus `sameKeyLive` (the same key in other bytes, latest with a
 * value). What the read did not reach is said in `details`, never counted as clean. Pure.
 */
export function verdictOf(
  tombstones: readonly WrittenTombstone[],
  ledger: TombstoneLedger,
  coverage: (topic: string, partition: number) => PartitionCoverage,
  sameKeyLive: number,
): TargetVerdict {
  let affected = 0;
  let residual = sameKeyLive;
  let verified = 0;
  const notVerified = new Set<string>();
  const unknown = new Set<string>();
  for (const t of tombstones) {
    const read = coverage(t.topic, t.partition);
    const state = ledger.stateOf(t);
    if (!read.complete || !state) {
      const reason = read.complete ? `tombstone at offset ${t.offset} of ${t.topic}/${t.partition} was not read back` : read.reason;
      notVerified.add(reason);
      unknown.add(reason);
      continue;
    }
    if (state.live) residual += 1;
    else verified += 1;
    if (read.history !== true) unknown.add(read.history);
    else if (state.hadValue) affected += 1;
  }
  const details: Record<string, string> = { tombstones: String(tombstones.length), verified: String(verified) };
  if (notVerified.size > 0) details['not-verified'] = [...notVerified].join('; ');
  if (unknown.size > 0) details['affected-unknown'] = [...unknown].join('; ');
  return { affected, residual, details };
}
