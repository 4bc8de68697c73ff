/** The offset ranges a range read takes (kept-range-reader.ts), and what it reports. */

/** Offsets [from, to) of one partition to read. */
export interface PartitionRange {
  topic: string;
  partition: number;
  from: bigint;
  to: bigint;
}

/** Which ranges were read to their end; the others stopped at the time limit. */
export interface RangesRead {
  /** `topic/partition` of every range read to its end. */
  complete: Set<string>;
  /** Bytes of keys and values read. */
  bytes: number;
}

export const rangeId = (topic: string, partition: number) => `${topic}/${partition}`;
