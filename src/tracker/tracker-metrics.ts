import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Catalog } from '../catalog/catalog.js';
import { configuredSinks } from '../catalog/sinks.js';
import type { Logger } from '../logger.js';
import type { Topology } from '../kafka/topology.js';
import type { SinkWaits } from './sink-waits.js';
import { ERASURE_STATES } from './erasure-status.js';
import type { StatusStore } from './status-store.js';

/**
 * The tracker's Prometheus metrics, on their own registry. Gauges that describe other systems
 * (consumer lag, dead letters, the slot's retained WAL) are read when scraped, so they are never
 * stale; a source that cannot be read leaves its gauge out of that scrape and logs why.
 */
export class TrackerMetrics {
  readonly registry = new Registry();
  readonly ackLatency: Histogram<'sink'>;
  readonly undecodable: Counter<'topic'>;
  readonly sinkOutages: Counter<'sink'>;

  constructor(options: { catalog: Catalog; store: StatusStore; admin: Admin; source: pg.Pool; logger: Logger; topology: Topology; waits: SinkWaits }) {
    const { catalog, store, admin, source, logger, topology, waits } = options;
    const trackerGroup = topology.trackerGroup;
    const sinkGroup = topology.sinkGroup;
    const dlqTopic = topology.dlq;
    const registry = this.registry;
    const guarded = (what: string, read: () => Promise<void>) => async () => {
      try {
        await read();
      } catch (error) {
        logger.warn({ metric: what, err: (error as Error).message }, 'metric not readable in this scrape');
      }
    };
    const erasures: Gauge<string> = new Gauge({ name: 'lethe_erasures', help: 'Erasures by status.', labelNames: ['status'], registers: [registry], collect: guarded('lethe_erasures', async () => {
      const counts = await store.countByStatus();
      for (const state of ERASURE_STATES) erasures.set({ status: state }, counts.get(state) ?? 0);
    }) });
    this.ackLatency = new Histogram({
      name: 'lethe_ack_latency_seconds',
      help: 'From the erasing commit to the sink acknowledgement, per sink (live acks only).',
      labelNames: ['sink'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400],
      registers: [registry],
    });
    this.undecodable = new Counter({ name: 'lethe_tracker_undecodable_total', help: 'Records the tracker could not decode, by topic.', labelNames: ['topic'], registers: [registry] });

    this.sinkOutages = new Counter({ name: 'lethe_sink_outages_total', help: 'Times a sink began to wait for a server that is down (its store, Kafka, the registry).', labelNames: ['sink'], registers: [registry] });
    const waiting: Gauge<string> = new Gauge({ name: 'lethe_sink_waiting_seconds', help: 'How long each sink has waited for a server that is down; 0 when it is not waiting.', labelNames: ['sink'], registers: [registry], collect: () => {
      const now = Date.now();
      for (const sink of configuredSinks(catalog.sinks)) {
        const wait = waits.waitOf(sink, now);
        waiting.set({ sink }, wait ? (now - wait.since) / 1000 : 0);
      }
    } });

    const groups: Array<[string, string]> = [
      ...configuredSinks(catalog.sinks).map((sink): [string, string] => [sinkGroup(sink), catalog.kafka.topics.erasures]),
      [trackerGroup, catalog.kafka.topics.erasures],
      [trackerGroup, catalog.kafka.topics.acks],
    ];
    const lag: Gauge<string> = new Gauge({ name: 'lethe_consumer_lag', help: 'Records not yet consumed, per consumer group and topic.', labelNames: ['group', 'topic'], registers: [registry], collect: guarded('lethe_consumer_lag', async () => {
      const ends = new Map<string, Array<{ partition: number; high: string; low: string }>>();
      for (const topic of new Set(groups.map(([, t]) => t))) ends.set(topic, await admin.fetchTopicOffsets(topic));
      for (const [groupId, topic] of groups) {
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        let total = 0n;
        for (const end of ends.get(topic) ?? []) {
          const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          // A group that never committed on a partition starts at its beginning: all of it is lag.
          total += BigInt(end.high) - (at === '-1' ? BigInt(end.low) : BigInt(at));
        }
        lag.set({ group: groupId, topic }, Number(total));
      }
    }) });

    const dlq: Gauge<string> = new Gauge({ name: 'lethe_dlq_records', help: "Records in each sink's dead-letter topic.", labelNames: ['sink'], registers: [registry], collect: guarded('lethe_dlq_records', async () => {
      for (const sink of configuredSinks(catalog.sinks)) {
        const offsets = await admin.fetchTopicOffsets(dlqTopic(sink)).catch(() => []);
        dlq.set({ sink }, Number(offsets.reduce((n, o) => n + BigInt(o.high) - BigInt(o.low), 0n)));
      }
    }) });

    const wal: Gauge<string> = new Gauge({ name: 'lethe_slot_wal_retained_bytes', help: "WAL the replication slot holds back (current LSN minus the slot's restart LSN).", labelNames: ['slot'], registers: [registry], collect: guarded('lethe_slot_wal_retained_bytes', async () => {
      const rows = await source.query<{ bytes: string | null }>(
        'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS bytes FROM pg_replication_slots WHERE slot_name = $1',
        [catalog.source.slot],
      );
      if (rows.rows[0]?.bytes != null) wal.set({ slot: catalog.source.slot }, Number(rows.rows[0].bytes));
    }) });
  }
}
