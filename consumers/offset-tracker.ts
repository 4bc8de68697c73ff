/** One partition's tracked offsets: a queue in fetch order, and each entry by its offset. */
interface PartitionOffsets {
  entries: Array<{ offset: bigint; done: boolean }>;
  /** Index of the first entry not yet taken: taking a prefix moves it instead of shifting the list. */
  head: number;
  byOffset: Map<bigint, { offset: bigint; done: boolean }>;
  pending: number;
}

/**
 * Which offset of a partition may be committed: work may complete out of order, the committable
 * offset is the end of the contiguous prefix of what is done (kafka-connect-elasticsearch's
 * AsyncOffsetTracker). Offsets are tracked in the order they were fetched; `done` is O(1). Pure.
 */
export class OffsetTracker {
  /**
   * By topic and partition: a sink group reads the erasures topic and its retry topic, whose
   * partitions share numbers, and with partitions in parallel both are in flight at once.
   */
  private readonly partitions = new Map<string, PartitionOffsets>();

  track(topic: string, partition: number, offset: string | bigint): void {
    const key = keyOf(topic, partition);
    let p = this.partitions.get(key);
    if (!p) this.partitions.set(key, (p = { entries: [], head: 0, byOffset: new Map(), pending: 0 }));
    const value = BigInt(offset);
    const last = p.entries.length > p.head ? p.entries[p.entries.length - 1] : undefined;
    if (last && value <= last.offset) throw new RangeError(`offset ${value} of ${topic}/${partition} tracked after ${last.offset}`);
    const entry = { offset: value, done: false };
    p.entries.push(entry);
    p.byOffset.set(value, entry);
    p.pending += 1;
  }

  done(topic: string, partition: number, offset: string | bigint): void {
    const p = this.partitions.get(keyOf(topic, partition));
    const entry = p?.byOffset.get(BigInt(offset));
    if (!p || !entry) throw new RangeError(`offset ${offset} of ${topic}/${partition} was never tracked`);
    if (!entry.done) p.pending -= 1;
    entry.done = true;
  }

  /**
   * The last offset of the done prefix, which the consumer resolves (Kafka then commits it + 1),
   * and forgets that prefix; undefined when the first tracked offset is not done yet.
   */
  takeCommittable(topic: string, partition: number): string | undefined {
    const p = this.partitions.get(keyOf(topic, partition));
    if (!p) return undefined;
    let last: bigint | undefined;
    while (p.head < p.entries.length && p.entries[p.head]!.done) {
      last = p.entries[p.head]!.offset;
      p.byOffset.delete(last);
      p.head += 1;
    }
    // Compacted now and then, so a long-lived partition's list does not only grow.
    if (p.head > 1024 && p.head * 2 > p.entries.length) {
      p.entries = p.entries.slice(p.head);
      p.head = 0;
    }
    return last === undefined ? undefined : String(last);
  }

  /** Forgets a partition (revoked, or its batch abandoned): its offsets stay uncommitted. */
  forget(topic: string, partition: number): void {
    this.partitions.delete(keyOf(topic, partition));
  }

  pending(topic: string, partition: number): number {
    return this.partitions.get(keyOf(topic, partition))?.pending ?? 0;
  }
}

const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;
