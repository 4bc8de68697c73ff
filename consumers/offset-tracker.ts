/**
 * Which offset of a partition may be committed: work may complete out of order, the committable
 * offset is the end of the contiguous prefix of what is done (kafka-connect-elasticsearch's
 * AsyncOffsetTracker). Offsets are tracked in the order they were fetched. Pure.
 */
export class OffsetTracker {
  /** Per partition, tracked offsets in fetch order with whether each is done. */
  private readonly partitions = new Map<number, Array<{ offset: bigint; done: boolean }>>();

  track(partition: number, offset: string | bigint): void {
    const list = this.partitions.get(partition) ?? [];
    const value = BigInt(offset);
    if (list.length > 0 && value <= list[list.length - 1]!.offset) throw new RangeError(`offset ${value} of partition ${partition} tracked after ${list[list.length - 1]!.offset}`);
    list.push({ offset: value, done: false });
    this.partitions.set(partition, list);
  }

  done(partition: number, offset: string | bigint): void {
    const entry = this.partitions.get(partition)?.find((e) => e.offset === BigInt(offset));
    if (!entry) throw new RangeError(`offset ${offset} of partition ${partition} was never tracked`);
    entry.done = true;
  }

  /**
   * The last offset of the done prefix, which the consumer resolves (Kafka then commits it + 1),
   * and forgets that prefix; undefined when the first tracked offset is not done yet.
   */
  takeCommittable(partition: number): string | undefined {
    const list = this.partitions.get(partition);
    if (!list) return undefined;
    let last: bigint | undefined;
    while (list.length > 0 && list[0]!.done) last = list.shift()!.offset;
    return last === undefined ? undefined : String(last);
  }

  /** Forgets a partition (revoked, or its batch abandoned): its offsets stay uncommitted. */
  forget(partition: number): void {
    this.partitions.delete(partition);
  }

  pending(partition: number): number {
    return this.partitions.get(partition)?.filter((e) => !e.done).length ?? 0;
  }
}
