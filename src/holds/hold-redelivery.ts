import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Message, Producer } from 'kafkajs';
import pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { eventKeyOf, type SubjectErased } from '../cdc/erasure-manifest.js';
import { ServiceUnavailableError } from '../errors.js';
import { EventCodec } from '../events/event-codec.js';
import { translateKafka } from '../kafka/kafka-client.js';
import { sendsWithin } from '../kafka/record-size.js';
import { topologyOf } from '../kafka/topology.js';
import { NOT_BEFORE } from '../../consumers/retry-gate.js';

/**
 * Releasing a hold erases what it kept, through the same path: each event a sink kept back under
 * a released hold (and under no other active hold for that sink) goes to the sink's retry topic,
 * due at once; the sink applies it as any redelivery, and its APPLIED or NOTHING_TO_DO ack, later
 * than the HELD one, supersedes it. Restart-safe: an event is marked redelivered only after Kafka
 * has it, so a crash in between sends it twice, which the sinks' idempotence absorbs.
 */

/** On a retry-topic record this sweep wrote: the released hold that had kept it back. */
export const RELEASED_HOLD = 'lethe-released-hold';

export interface RedeliveryOptions {
  catalog: Catalog;
  pool: pg.Pool;
  /** The tracker schema holding the holds tables; catalog.tracker.schema when not given. */
  schema?: string;
  /** A connected producer (idempotent, as Lethe's are). */
  producer: Producer;
  registry?: SchemaRegistry;
  now?: () => number;
  batchSize?: number;
}

interface Waiting {
  hold_id: string;
  sink: string;
  event_id: string;
  part: number;
  event: SubjectErased;
}

/** Sends every released held event on to its sink; returns how many event parts went out. */
export async function redeliverReleased(options: RedeliveryOptions): Promise<number> {
  const { catalog, pool, producer } = options;
  const s = pg.escapeIdentifier(options.schema ?? catalog.tracker.schema);
  const topology = topologyOf(catalog);
  const codec = new EventCodec<SubjectErased>(options.registry ?? new SchemaRegistry({ host: catalog.kafka.schemaRegistry }), topology.erasures, 'subject-erased');
  const limit = options.batchSize ?? 500;
  let sent = 0;
  for (;;) {
    const batch = await waiting(pool, s, limit);
    if (batch.length === 0) return sent;
    const now = (options.now ?? Date.now)();
    const bySink = new Map<string, Message[]>();
    for (const w of batch) {
      const message: Message = {
        key: eventKeyOf(w.event.subjectType, w.event.subjectId),
        value: await codec.encode(w.event),
        headers: { [NOT_BEFORE]: String(now), [RELEASED_HOLD]: w.hold_id },
      };
      bySink.set(w.sink, [...(bySink.get(w.sink) ?? []), message]);
    }
    for (const [sink, messages] of bySink) {
      const topic = topology.retry(sink);
      for (const part of sendsWithin(messages, catalog.kafka.maxMessageBytes)) {
        await producer.send({ topic, acks: -1, messages: part }).catch((error: unknown) => Promise.reject(translateKafka(error, `producing released held events to ${topic}`)));
      }
    }
    await markRedelivered(pool, s, batch);
    sent += batch.length;
    if (batch.length < limit) return sent;
  }
}

/**
 * One row per event part and sink whose holds are all released: a hold placed after the event was
 * kept back covers it as well, though it has no row of its own, so activity is checked on the
 * subject, not only on the rows' holds.
 */
async function waiting(pool: pg.Pool, s: string, limit: number): Promise<Waiting[]> {
  const sql = `SELECT * FROM (
      SELECT DISTINCT ON (he.sink, he.event_id, he.part) he.hold_id, he.sink, he.event_id, he.part, he.event, he.held_at
      FROM ${s}.held_events he JOIN ${s}.holds h ON h.id = he.hold_id
      WHERE he.redelivered_at IS NULL AND h.released_at IS NOT NULL
        AND NOT EXISTS (
          SELECT 1 FROM ${s}.holds a
          WHERE a.released_at IS NULL AND a.subject_type = h.subject_type AND a.subject_id = h.subject_id AND (a.scope = 'all' OR a.scope = 'sink:' || he.sink))
      ORDER BY he.sink, he.event_id, he.part, he.held_at
    ) w ORDER BY held_at, event_id, part LIMIT $1`;
  try {
    return (await pool.query<Waiting>(sql, [limit])).rows;
  } catch (error) {
    throw new ServiceUnavailableError('postgres', `reading released held events: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** Every row of those event parts, whichever hold it was kept under: each is released. */
async function markRedelivered(pool: pg.Pool, s: string, batch: readonly Waiting[]): Promise<void> {
  try {
    await pool.query(
      `UPDATE ${s}.held_events he SET redelivered_at = now()
       FROM unnest($1::text[], $2::text[], $3::int[]) AS d(sink, event_id, part)
       WHERE he.redelivered_at IS NULL AND he.sink = d.sink AND he.event_id = d.event_id AND he.part = d.part`,
      [batch.map((w) => w.sink), batch.map((w) => w.event_id), batch.map((w) => w.part)],
    );
  } catch (error) {
    throw new ServiceUnavailableError('postgres', `marking held events redelivered: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
