import type { Message } from 'kafkajs';

/**
 * Upper bounds of what messages take in a Kafka record batch (format v2, uncompressed, as the
 * producers here send). The broker refuses a batch over message.max.bytes (the topic's
 * max.message.bytes), and a produce request carries one batch per partition, so what one send
 * puts on a partition must stay under it, not only each message.
 * https://kafka.apache.org/documentation/#recordbatch
 */

/** The record batch's own header: base offset through the record count. */
export const RECORD_BATCH_OVERHEAD = 61;

/** At most what a varint takes (lengths, deltas); the timestamp delta is a varlong (10). */
const VARINT_MAX = 5;
const VARLONG_MAX = 10;

function bytesOf(value: Message['key'] | Message['value'] | string | Buffer | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
}

/**
 * A record's bytes in a batch, at most: its length, attributes, timestamp and offset deltas, key,
 * value and headers, each length at its largest varint.
 */
export function recordBytes(message: Pick<Message, 'key' | 'value' | 'headers'>): number {
  let total = VARINT_MAX + 1 + VARLONG_MAX + VARINT_MAX;
  total += VARINT_MAX + bytesOf(message.key) + VARINT_MAX + bytesOf(message.value);
  total += VARINT_MAX;
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) total += VARINT_MAX + Buffer.byteLength(name, 'utf8') + VARINT_MAX + bytesOf(v as string | Buffer | undefined);
  }
  return total;
}

/**
 * Packs items, in order, into groups whose sizes add up to at most `capacity` and of at most
 * `maxCount` items each, a new group starting when the next item would not fit. An item too
 * large alone gets a group of its own (callers that must refuse it check before). Pure.
 */
export function packBySize<T>(items: readonly T[], sizeOf: (item: T) => number, capacity: number, maxCount = Infinity): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const bytes = sizeOf(item);
    if (current.length > 0 && (size + bytes > capacity || current.length >= maxCount)) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * Groups messages, in order, into sends whose batches stay within `maxBytes` whatever partitions
 * they land on (the sum over a send bounds each partition's share), and of at most `maxRecords`
 * each. A message too large alone gets a send of its own; the broker then names it.
 */
export function sendsWithin<M extends Pick<Message, 'key' | 'value' | 'headers'>>(messages: readonly M[], maxBytes: number, maxRecords = Infinity): M[][] {
  return packBySize(messages, recordBytes, maxBytes - RECORD_BATCH_OVERHEAD, maxRecords);
}
