import { crc32 } from 'node:zlib';
import kafkajs, { type PartitionMetadata } from 'kafkajs';

// kafkajs is CommonJS; Node's ESM loader does not see every export of it by name.
const { Partitioners } = kafkajs;

/**
 * How the application's producer picks a keyed record's partition, which a tombstone must
 * follow to land beside the records it erases: `murmur2` (the Java client's default, kafkajs'
 * DefaultPartitioner, librdkafka's `murmur2_random`), or `crc32` (librdkafka's default
 * `consistent_random`: confluent-kafka-python, confluent-kafka-go, node-rdkafka).
 */
export type PartitionerName = 'murmur2' | 'crc32';
export const PARTITIONER_NAMES: readonly PartitionerName[] = ['murmur2', 'crc32'];

const murmur2 = Partitioners.DefaultPartitioner();

/** The partition of a non-empty key on a topic with these partitions (ids 0 to n-1), as `name` picks it. Pure. */
export function partitionOf(name: PartitionerName, topic: string, partitions: PartitionMetadata[], key: Buffer): number {
  // librdkafka: rd_crc32(key) % partition_cnt, the standard (zlib) CRC-32, unsigned.
  if (name === 'crc32') return crc32(key) % partitions.length;
  return murmur2({ topic, partitionMetadata: partitions, message: { key, value: null } });
}
