import { LetheError } from '../errors.js';
import { packBySize } from '../kafka/record-size.js';
import type { KeyColumn, RelatedRow, SubjectErased } from './erasure-manifest.js';

/**
 * Splitting an erasure whose event would be too large for one Kafka record. A transaction that
 * deletes a subject with a large cascade (50,000 orders) lists every row in `related`; one event
 * would exceed the broker's message.max.bytes, the send would fail, and the reader would meet the
 * same transaction at every restart. So such an erasure is sent as parts: the same eventId,
 * subject, operation and commit facts in each, a slice of `related` in each, `part` i of `parts`.
 *
 * Sizes are the Avro binary encoding of schemas/subject-erased.avsc, computed here rather than
 * by encoding: strings and arrays are length-prefixed, so a row's share of the event is its own
 * encoded size, and a part is the fixed fields plus its rows. The unit test checks these sums
 * against the Avro library's encoding.
 */

/** An event's fields other than its parts: what the splitter is given. */
export type WholeEvent = Omit<SubjectErased, 'part' | 'parts'>;

/** Bytes of Avro's zig-zag varint encoding of an int or long. */
export function varintBytes(value: number | bigint): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && Math.abs(value) < 2 ** 51) {
    // Without BigInt (every event's times and ids): zig-zag, then 7 bits a byte.
    let z = value >= 0 ? value * 2 : -value * 2 - 1;
    let count = 1;
    while (z >= 0x80) {
      z = Math.floor(z / 0x80);
      count += 1;
    }
    return count;
  }
  let n = BigInt(value);
  n = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  let bytes = 1;
  while (n >= 0x80n) {
    n >>= 7n;
    bytes += 1;
  }
  return bytes;
}

function stringBytes(value: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  return varintBytes(length) + length;
}

/** An array written as Avro writes it: one block (count, items), then the 0 that ends it. */
function arrayBytes<T>(items: readonly T[], itemBytes: (item: T) => number): number {
  if (items.length === 0) return 1;
  let total = varintBytes(items.length) + 1;
  for (const item of items) total += itemBytes(item);
  return total;
}

const keyColumnBytes = (k: KeyColumn) => stringBytes(k.column) + stringBytes(k.value);

/** One related row's bytes in the event (the enum's index is 0 or 1: one byte). */
export function relatedRowBytes(row: RelatedRow): number {
  return stringBytes(row.table) + arrayBytes(row.key, keyColumnBytes) + 1;
}

/** The encoded size of an event, in field order of the schema. */
export function eventBytes(event: SubjectErased): number {
  return (
    stringBytes(event.eventId) +
    stringBytes(event.subjectType) +
    stringBytes(event.subjectId) +
    arrayBytes(event.subjectKey, keyColumnBytes) +
    1 + // operation (enum)
    stringBytes(event.sourceTable) +
    stringBytes(event.commitLsn) +
    varintBytes(event.commitTime) +
    varintBytes(event.xid) +
    (event.requestId === null || event.requestId === undefined ? 1 : 1 + stringBytes(event.requestId)) +
    arrayBytes(event.related, relatedRowBytes) +
    varintBytes(event.emittedAt) +
    varintBytes(event.part) +
    varintBytes(event.parts)
  );
}

/**
 * Room a part leaves for what its size is not known for until the split is done: `part` and
 * `parts` (an int: at most 5 bytes each, counted as 1 in the base) and the array's count.
 */
const PART_SLACK = 4 + 4 + 5;

/**
 * The parts of an event whose encoded size stays within `maxBytes` each: the event itself as
 * part 1 of 1 when it fits, else its related rows in order, as many to a part as fit. Refused
 * (an invariant, not retriable: the same commit fails the same way at every restart) when even
 * one row beside the fixed fields does not fit; the message names the table and the sizes.
 */
export function splitEvent(event: WholeEvent, maxBytes: number): SubjectErased[] {
  const whole: SubjectErased = { ...event, part: 1, parts: 1 };
  if (eventBytes(whole) <= maxBytes) return [whole];
  const base = eventBytes({ ...whole, related: [] }) + PART_SLACK;
  for (const row of event.related) {
    const bytes = relatedRowBytes(row);
    if (base + bytes > maxBytes) {
      throw new LetheError(
        'EVENT_TOO_LARGE',
        `erasure ${event.eventId} (${event.subjectType}): a related row of ${row.table} takes ${bytes} bytes beside ${base} of the event's own fields, over kafka.maxMessageBytes' room of ${maxBytes} for an event`,
      );
    }
  }
  const slices = packBySize(event.related, relatedRowBytes, maxBytes - base);
  return slices.map((related, i) => ({ ...event, related, part: i + 1, parts: slices.length }));
}
