/**
 * A replay's window over the erasures topic: per partition, from the offsets of its start time up
 * to the end offsets captured when it started (exclusive). Records past the end are not part of
 * it; it is over when every partition has been read up to its end. Pure.
 */
export class ReplayWindow {
  private readonly next: Map<number, bigint>;

  constructor(
    startOffsets: ReadonlyMap<number, bigint>,
    private readonly endOffsets: ReadonlyMap<number, bigint>,
  ) {
    this.next = new Map(startOffsets);
  }

  /** Whether a record of the partition belongs to the replay. */
  within(partition: number, offset: string | bigint): boolean {
    return BigInt(offset) < (this.endOffsets.get(partition) ?? 0n);
  }

  /** Records up to and including `offset` of the partition were handled. */
  advance(partition: number, offset: string | bigint): void {
    const after = BigInt(offset) + 1n;
    if (after > (this.next.get(partition) ?? 0n)) this.next.set(partition, after);
  }

  /** Records left before the end offsets. */
  remaining(): bigint {
    let left = 0n;
    for (const [partition, end] of this.endOffsets) {
      const at = this.next.get(partition) ?? 0n;
      if (end > at) left += end - at;
    }
    return left;
  }

  finished(): boolean {
    return this.remaining() === 0n;
  }
}
