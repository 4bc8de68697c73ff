import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { DevLetheEvents as Statuses } from '../../schemas/generated/erasure-status.js';
import type { Catalog } from '../catalog/catalog.js';
import { EventCodec } from '../events/event-codec.js';
import type { ErasureStatus } from './erasure-status.js';
import type { StatusStore } from './status-store.js';

/** The status topic's record for a status. */
export function statusRecord(s: ErasureStatus, now: number): Statuses.ErasureStatusChanged {
  return {
    eventId: s.eventId,
    subjectType: s.subjectType,
    subjectId: s.subjectId,
    status: s.status.toUpperCase() as Statuses.ErasureState,
    known: s.known,
    commitTime: s.facts?.commitTime ?? null,
    dueAt: s.dueAt,
    completedAt: s.completedAt,
    targets: s.targets.map((t) => ({
      kind: t.kind,
      sink: t.sink,
      target: t.target,
      state: t.state,
      affected: t.affected,
      residual: t.residual,
      at: t.at,
      error: t.error,
      heldUntil: t.heldUntil ?? null,
    })),
    updatedAt: now,
  };
}

/**
 * Puts changed statuses on the compacted status topic (key = erasure id), then marks them
 * published in the store. A status changed while Kafka was away stays unpublished in the store
 * and goes out with the next `publishPending`.
 */
export class StatusPublisher {
  private readonly producer: Producer;
  private readonly codec: EventCodec<Statuses.ErasureStatusChanged>;

  constructor(
    kafka: Kafka,
    private readonly catalog: Catalog,
    private readonly store: StatusStore,
  ) {
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.codec = new EventCodec(new SchemaRegistry({ host: catalog.kafka.schemaRegistry }), catalog.kafka.topics.status, 'erasure-status');
  }

  async connect(): Promise<void> {
    await this.codec.register();
    await this.producer.connect();
  }

  async publish(changed: ErasureStatus[]): Promise<void> {
    if (changed.length === 0) return;
    const now = Date.now();
    const messages = await Promise.all(changed.map(async (s) => ({ key: s.eventId, value: await this.codec.encode(statusRecord(s, now)) })));
    await this.producer.send({ topic: this.catalog.kafka.topics.status, acks: -1, messages });
    await this.store.markPublished(changed);
  }

  /** Publishes whatever the store holds unpublished; returns what went out. */
  async publishPending(): Promise<ErasureStatus[]> {
    const out: ErasureStatus[] = [];
    for (let batch = await this.store.unpublished(); batch.length > 0; batch = await this.store.unpublished()) {
      await this.publish(batch);
      out.push(...batch);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
