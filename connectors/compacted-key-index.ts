import { framedSchemaId } from './compacted-key-format.js';
import type { KeyFormatsSeen, KeyState, WrittenTombstone } from './compacted-verification.js';

/** The schema id under which keys without Confluent framing are filed. */
const PLAIN = -1;
/** How many of a watched key's tombstones are kept (more only when it is erased that often during one apply). */
const TOMBSTONES = 1_000;

/** A key being erased: what its records say from the moment it was watched (or from the start of the read). */
interface Watched {
  /** Whether a record of it with a value was read before it was watched. */
  valueBefore: boolean;
  /** The first record of it with a value read since. */
  firstValue?: bigint;
  /** The offsets of its tombstones read since (the latest `TOMBSTONES`). */
  tombstones: bigint[];
}

/** A key's bytes as a string, one character per byte (exact, and half the size of hex). */
const keyText = (key: Buffer) => key.toString('latin1');

/**
 * What one partition's records, read in offset order from `start` to `end`, say of its keys:
 * which keys' latest record has a value (filed by schema id), which had one and are now erased
 * (their latest record a tombstone), and the records of the keys being erased. A key never seen
 * with a value is not kept. Past `cap` keys no more are taken and the partition is `overflowed`
 * (what it says of other keys is then partial).
 */
export class PartitionKeys {
  private readonly live = new Map<number, Set<string>>();
  private readonly erased = new Set<string>();
  private size = 0;
  readonly watched = new Map<string, Watched>();
  overflowed = false;
  /** When the high watermark its reads have reached (`end`) was taken. */
  readAt = 0;

  constructor(
    /** Where the read of this partition started: the log start, or later (its history unknown). */
    readonly start: bigint,
    /** The next offset to read. */
    public end: bigint,
    private readonly cap: number,
  ) {}

  isLive(key: Buffer): boolean {
    return this.live.get(framedSchemaId(key) ?? PLAIN)?.has(keyText(key)) ?? false;
  }

  watch(key: Buffer): void {
    const text = keyText(key);
    if (!this.watched.has(text)) this.watched.set(text, { valueBefore: this.isLive(key) || this.erased.has(text), tombstones: [] });
  }

  unwatch(key: Buffer): void {
    this.watched.delete(keyText(key));
  }

  observe(offset: bigint, key: Buffer | null, value: Buffer | null): void {
    if (key === null) return;
    const text = keyText(key);
    const id = framedSchemaId(key) ?? PLAIN;
    const watched = this.watched.get(text);
    if (watched && value !== null) watched.firstValue ??= offset;
    else if (watched) {
      watched.tombstones.push(offset);
      if (watched.tombstones.length > TOMBSTONES) watched.tombstones.shift();
    }
    const keys = this.live.get(id);
    if (value === null) {
      if (keys?.delete(text)) this.erased.add(text);
      return;
    }
    if (keys?.has(text)) return;
    if (this.erased.delete(text)) this.size -= 1;
    // A watched key is followed past the cap: whether it was written again is its verdict.
    if (this.size >= this.cap && !watched) {
      this.overflowed = true;
      return;
    }
    this.live.set(id, (keys ?? new Set()).add(text));
    this.size += 1;
  }

  /** The live keys by serialization: what the topic's keys are, whatever Lethe wrote. */
  formats(): KeyFormatsSeen {
    const seen: KeyFormatsSeen = { framed: new Map(), plain: 0 };
    for (const [id, keys] of this.live) {
      if (keys.size === 0) continue;
      if (id === PLAIN) seen.plain += keys.size;
      else seen.framed.set(id, keys.size);
    }
    return seen;
  }

  /** Live framed keys under schema ids not in `ids`, other than the watched ones. */
  *liveForeign(ids: ReadonlySet<number>): Iterable<Buffer> {
    for (const [id, keys] of this.live) {
      if (id === PLAIN || ids.has(id)) continue;
      for (const text of keys) if (!this.watched.has(text)) yield Buffer.from(text, 'latin1');
    }
  }

  /**
   * The key's state as the tombstone at `offset` found and left it: whether a record of it with a
   * value was read before (an earlier attempt's tombstone in between still counts it: the value
   * was there), whether the tombstone was read at its offset, and whether its latest record read
   * has a value.
   */
  stateAt(key: Buffer, offset: bigint): KeyState | undefined {
    const watched = this.watched.get(keyText(key));
    if (!watched) return undefined;
    const hadValue = watched.valueBefore || (watched.firstValue !== undefined && watched.firstValue < offset);
    const live = this.isLive(key);
    return { tombstone: offset, hadValue, live, seen: watched.tombstones.includes(offset), latestLive: live };
  }
}

/**
 * The compacted connector's knowledge of its topics' partitions, kept between applies so each
 * read-back reads only the offsets written since the last one: per partition, the keys whose
 * latest record has a value, those erased since, and the records of the keys being erased. Keys are watched before
 * their tombstones are sent (a read of another apply may pass the tombstone first) and unwatched
 * once verified. Pure.
 */
export class CompactedKeyIndex {
  private readonly partitions = new Map<string, PartitionKeys>();
  /** Per `topic/partition`, each watched key's number of applies watching it. */
  private readonly watching = new Map<string, Map<string, { key: Buffer; count: number }>>();

  constructor(private readonly cap: number) {}

  kept(topic: string, partition: number): PartitionKeys | undefined {
    return this.partitions.get(`${topic}/${partition}`);
  }

  /** A new index of a partition from `start`, every watched key watched in it; kept between reads when `keep`. */
  open(topic: string, partition: number, start: bigint, keep: boolean): PartitionKeys {
    const keys = new PartitionKeys(start, start, this.cap);
    for (const { key } of this.watching.get(`${topic}/${partition}`)?.values() ?? []) keys.watch(key);
    if (keep) this.partitions.set(`${topic}/${partition}`, keys);
    return keys;
  }

  drop(topic: string, partition: number): void {
    this.partitions.delete(`${topic}/${partition}`);
  }

  watch(topic: string, partition: number, key: Buffer): void {
    const id = `${topic}/${partition}`;
    const keys = this.watching.get(id) ?? new Map<string, { key: Buffer; count: number }>();
    this.watching.set(id, keys);
    const text = keyText(key);
    const entry = keys.get(text) ?? { key, count: 0 };
    keys.set(text, entry);
    entry.count += 1;
    if (entry.count === 1) this.partitions.get(id)?.watch(key);
  }

  unwatch(topic: string, partition: number, key: Buffer): void {
    const id = `${topic}/${partition}`;
    const keys = this.watching.get(id);
    const text = keyText(key);
    const entry = keys?.get(text);
    if (!keys || !entry) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    keys.delete(text);
    if (keys.size === 0) this.watching.delete(id);
    this.partitions.get(id)?.unwatch(key);
  }

  clear(): void {
    this.partitions.clear();
  }
}

/**
 * What one apply's read-back shows of its tombstones: the partitions read (kept or read for this
 * apply alone), and its tombstones' keys. Pure.
 */
export class TombstoneLedger {
  /** Per `topic/partition/key`: the first tombstone of this apply. */
  private readonly first = new Map<string, bigint>();
  /** Per `topic/key`: the partitions this apply's tombstones of it went to. */
  private readonly tombstoned = new Map<string, Set<number>>();
  private readonly ids = new Map<string, Set<number>>();

  constructor(
    private readonly read: ReadonlyMap<string, PartitionKeys>,
    tombstones: readonly WrittenTombstone[],
  ) {
    for (const t of tombstones) {
      const id = `${t.topic}/${t.partition}/${keyText(t.key)}`;
      const offset = this.first.get(id);
      if (offset === undefined || t.offset < offset) this.first.set(id, t.offset);
      const key = `${t.topic}/${keyText(t.key)}`;
      this.tombstoned.set(key, (this.tombstoned.get(key) ?? new Set()).add(t.partition));
      const schemaId = framedSchemaId(t.key);
      if (schemaId !== null) this.ids.set(t.topic, (this.ids.get(t.topic) ?? new Set()).add(schemaId));
    }
  }

  private partitionsOf(topic: string): Array<[number, PartitionKeys]> {
    return [...this.read].filter(([id]) => id.slice(0, id.lastIndexOf('/')) === topic).map(([id, keys]) => [Number(id.slice(id.lastIndexOf('/') + 1)), keys]);
  }

  stateOf(t: Pick<WrittenTombstone, 'topic' | 'partition' | 'key'>): KeyState | undefined {
    const offset = this.first.get(`${t.topic}/${t.partition}/${keyText(t.key)}`);
    return offset === undefined ? undefined : this.read.get(`${t.topic}/${t.partition}`)?.stateAt(t.key, offset);
  }

  /** The partitions other than its tombstones' where a tombstoned key's latest record read has a value. */
  strayPartitions(t: Pick<WrittenTombstone, 'topic' | 'key'>): number[] {
    const own = this.tombstoned.get(`${t.topic}/${keyText(t.key)}`) ?? new Set<number>();
    return this.partitionsOf(t.topic)
      .filter(([partition, keys]) => !own.has(partition) && keys.isLive(t.key))
      .map(([partition]) => partition)
      .sort((a, b) => a - b);
  }

  formatsSeen(topic: string): KeyFormatsSeen {
    const seen: KeyFormatsSeen = { framed: new Map(), plain: 0 };
    for (const [, keys] of this.partitionsOf(topic)) {
      const formats = keys.formats();
      seen.plain += formats.plain;
      for (const [id, n] of formats.framed) seen.framed.set(id, (seen.framed.get(id) ?? 0) + n);
    }
    return seen;
  }

  /** Live framed keys under schema ids the tombstones do not use (the same key in other bytes, maybe). */
  foreignKeys(topic: string): Buffer[] {
    const ids = this.ids.get(topic) ?? new Set<number>();
    return this.partitionsOf(topic).flatMap(([, keys]) => [...keys.liveForeign(ids)]);
  }
}
