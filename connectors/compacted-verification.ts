import type { KeyFormat } from './compacted-key-format.js';
import type { TombstoneLedger } from './compacted-key-index.js';

/** A tombstone as the broker stored it: where the producer's send result puts it. */
export interface WrittenTombstone {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer;
}

/** A tombstoned key's records as the read-back found them. */
export interface KeyState {
  /** The first tombstone written for the key in this apply. */
  tombstone: bigint;
  /** Whether a record of it with a value was read before the tombstone. */
  hadValue: boolean;
  /** Whether the key's latest record from the tombstone on has a value (a later write). */
  live: boolean;
  /** The tombstone itself was read back at its offset: the key, and no value. */
  seen: boolean;
  /** Whether the key's latest record read, wherever it is, has a value. */
  latestLive: boolean;
}

/** Live keys read per topic, by their serialization. */
export interface KeyFormatsSeen {
  framed: Map<number, number>;
  plain: number;
}

/**
 * The serialization a topic's keys show against the one a target declares, or null when they
 * agree. A string key never starts with a NUL byte in practice; a framed one always does.
 */
export function keyFormatMismatch(topic: string, declared: KeyFormat, seen: KeyFormatsSeen): string | null {
  if (declared === 'string' && seen.framed.size > 0) {
    const ids = [...seen.framed.keys()].sort((a, b) => a - b).join(', ');
    const n = [...seen.framed.values()].reduce((a, b) => a + b, 0);
    return `topic ${topic} holds Confluent-framed keys (schema id ${ids}; ${n} live keys read), but the catalog declares keyFormat string: a string tombstone erases none of them`;
  }
  if (declared !== 'string' && seen.plain > 0) {
    return `topic ${topic} holds ${seen.plain} live keys read that are not Confluent-framed (plain bytes), but the catalog declares keyFormat ${declared}`;
  }
  return null;
}

/**
 * How far the read got in one partition: to the high watermark taken after writing (from the
 * log start, or only from the first tombstone or the latest records, saying why), or not to its end.
 */
export type PartitionCoverage = { complete: true; history: true | string } | { complete: false; reason: string };

/** What the read-back covered: each partition's coverage, and every partition of a topic. */
export interface ReadBack {
  coverage(topic: string, partition: number): PartitionCoverage;
  partitions(topic: string): readonly number[];
}

/** A live record of a tombstoned key in another partition than its tombstone's. */
export interface Stray {
  found: number;
  tombstone: number;
}

export interface TargetVerdict {
  affected: number;
  residual: number;
  details: Record<string, string>;
  /** Keys with a live record in another partition than their tombstone's (distinct pairs). */
  strays: Stray[];
}

/**
 * One target's verdict from its tombstones and the read: affected counts the keys seen with a
 * value before their tombstone (a lower bound when `affected-unknown` says what was not read);
 * residual, the keys whose latest record from the
 * tombstone on has a value or that have a live record in another partition (a stray, which the
 * tombstone does not erase), plus `sameKeyLive` (the same key in other bytes, latest with a
 * value). Every partition of the topic counts, since a key may sit in any: what the read did not
 * reach there is said in `details`, never counted as clean. Pure.
 */
export function verdictOf(
  tombstones: readonly WrittenTombstone[],
  ledger: Pick<TombstoneLedger, 'stateOf' | 'strayPartitions'>,
  read: ReadBack,
  sameKeyLive: number,
): TargetVerdict {
  let affected = 0;
  let residual = sameKeyLive;
  let verified = 0;
  const notVerified = new Set<string>();
  const unknown = new Set<string>();
  const strays = new Map<string, Stray>();
  for (const topic of new Set(tombstones.map((t) => t.topic))) {
    for (const partition of read.partitions(topic)) {
      const coverage = read.coverage(topic, partition);
      if (!coverage.complete) {
        notVerified.add(coverage.reason);
        unknown.add(coverage.reason);
      } else if (coverage.history !== true) unknown.add(coverage.history);
    }
  }
  for (const t of tombstones) {
    const own = read.coverage(t.topic, t.partition);
    const state = ledger.stateOf(t);
    // A partition read to its end without the tombstone at the offset its send reported: the send
    // result is not what the log holds (a batch taken for a duplicate); nothing is known of it.
    const missing = own.complete && !state?.seen;
    if (missing) {
      const reason = `tombstone at offset ${t.offset} of ${t.topic}/${t.partition} was not read back`;
      notVerified.add(reason);
      unknown.add(reason);
    }
    const found = ledger.strayPartitions(t);
    for (const p of found) strays.set(`${p}/${t.partition}`, { found: p, tombstone: t.partition });
    if (!own.complete || !state || missing) {
      // The key's latest record read still has a value: it is there, whatever was sent.
      if (found.length > 0 || (missing && state?.latestLive)) residual += 1;
      continue;
    }
    if (state.live || found.length > 0) residual += 1;
    else verified += 1;
    if (state.hadValue) affected += 1;
  }
  const details: Record<string, string> = { tombstones: String(tombstones.length), verified: String(verified) };
  if (notVerified.size > 0) details['not-verified'] = [...notVerified].join('; ');
  if (unknown.size > 0) details['affected-unknown'] = [...unknown].join('; ');
  return { affected, residual, details, strays: [...strays.values()] };
}

/** The failure for keys found live in other partitions than their tombstones' (no key named: it is personal data). */
export function strayFailure(topic: string, partitioner: string, strays: readonly Stray[]): string {
  const where = strays.map((s) => `found in partition ${s.found}, the tombstone went to ${s.tombstone}`).join('; ');
  return (
    `topic ${topic}: a key ${where} (partitioner ${partitioner}): the application partitions keys differently, or the topic gained partitions since the record was written; ` +
    'declare `partitioner` (murmur2 or crc32) for the target'
  );
}
