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
import { RequestStore } from '../requests/request-store.js';
import { REQUEST_STATES, REQUEST_TYPES } from '../requests/request-states.js';

/** How often the gauges that read other systems are refreshed, at most. */
export const METRICS_REFRESH_MS = 5_000;

/**
 * The tracker's Prometheus metrics, on their own registry. Gauges that describe other systems
 * (consumer lag, dead letters, the slot's retained WAL) and the count of erasures by status are
 * read in the background every `refreshMs`, never per scrape: a scrape costs no admin call and no
 * query, however often it comes. A source that cannot be read leaves its gauge out until it can
 * be read again (a stale number would look current), and is logged once when it stops and once
 * when it returns.
 */
export class TrackerMetrics {
  readonly registry = new Registry();
  readonly ackLatency: Histogram<'sink'>;
  readonly undecodable: Counter<'topic'>;
  readonly sinkOutages: Counter<'sink'>;
  private readonly sources: Array<{ what: string; gauge: Gauge<string>; read: () => Promise<void>; failing: boolean }> = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly options: { catalog: Catalog; store: StatusStore; admin: Admin; source: pg.Pool; logger: Logger; topology: Topology; waits: SinkWaits; refreshMs?: number }) {
    const { catalog, store, admin, source, topology, waits } = options;
    const registry = this.registry;
    const polled = (name: string, help: string, labelNames: string[], read: (gauge: Gauge<string>) => Promise<void>) => {
      const gauge = new Gauge({ name, help, labelNames, registers: [registry] });
      this.sources.push({ what: name, gauge, read: () => read(gauge), failing: false });
    };
    polled('lethe_erasures', 'Erasures by status.', ['status'], async (gauge) => {
      const counts = await store.countByStatus();
      for (const state of ERASURE_STATES) gauge.set({ status: state }, counts.get(state) ?? 0);
    });
    if (catalog.requests.enabled) {
      const requests = new RequestStore(store.pool, catalog.tracker.schema);
      // The nearest deadline of an open request (negative: overdue), and how many are past theirs.
      const nearest = new Gauge({ name: 'lethe_request_nearest_deadline_seconds', help: 'Seconds from now to the nearest deadline of an open request, by type (negative when overdue).', labelNames: ['type'], registers: [registry] });
      const overdue = new Gauge({ name: 'lethe_requests_overdue', help: 'Open requests past their deadline, by type.', labelNames: ['type'], registers: [registry] });
      polled('lethe_requests', 'Privacy requests by type and state.', ['type', 'state'], async (gauge) => {
        const read = await requests.gauges(Date.now());
        for (const type of REQUEST_TYPES) for (const state of REQUEST_STATES) gauge.set({ type, state }, 0);
        for (const r of read.byState) gauge.set({ type: r.type, state: r.state }, r.n);
        nearest.reset();
        for (const type of REQUEST_TYPES) {
          const open = read.open.filter((r) => r.type === type).map((r) => r.secondsToDeadline);
          if (open.length > 0) nearest.set({ type }, Math.min(...open));
          overdue.set({ type }, open.filter((x) => x < 0).length);
        }
      });
    }
    this.ackLatency = new Histogram({
      name: 'lethe_ack_latency_seconds',
      help: 'From the erasing commit to the sink acknowledgement, per sink (live acks only).',
      labelNames: ['sink'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400],
      registers: [registry],
    });
    this.undecodable = new Counter({ name: 'lethe_tracker_undecodable_total', help: 'Records the tracker could not decode, by topic.', labelNames: ['topic'], registers: [registry] });

    this.sinkOutages = new Counter({ name: 'lethe_sink_outages_total', help: 'Times a sink began to wait for a server that is down (its store, Kafka, the registry).', labelNames: ['sink'], registers: [registry] });
    // In memory: cheap enough to read on each scrape.
    const waiting: Gauge<string> = new Gauge({ name: 'lethe_sink_waiting_seconds', help: 'How long each sink has waited for a server that is down; 0 when it is not waiting.', labelNames: ['sink'], registers: [registry], collect: () => {
      const now = Date.now();
      for (const sink of configuredSinks(catalog.sinks)) {
        const wait = waits.waitOf(sink, now);
        waiting.set({ sink }, wait ? (now - wait.since) / 1000 : 0);
      }
    } });

    const groups: Array<[string, string]> = [
      ...configuredSinks(catalog.sinks).map((sink): [string, string] => [topology.sinkGroup(sink), catalog.kafka.topics.erasures]),
      [topology.trackerGroup, catalog.kafka.topics.erasures],
      [topology.trackerGroup, catalog.kafka.topics.acks],
    ];
    polled('lethe_consumer_lag', 'Records not yet consumed, per consumer group and topic.', ['group', 'topic'], async (gauge) => {
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
        gauge.set({ group: groupId, topic }, Number(total));
      }
    });

    polled('lethe_dlq_records', "Records in each sink's dead-letter topic.", ['sink'], async (gauge) => {
      for (const sink of configuredSinks(catalog.sinks)) {
        const offsets = await admin.fetchTopicOffsets(topology.dlq(sink)).catch(() => []);
        gauge.set({ sink }, Number(offsets.reduce((n, o) => n + BigInt(o.high) - BigInt(o.low), 0n)));
      }
    });

    polled('lethe_slot_wal_retained_bytes', "WAL the replication slot holds back (current LSN minus the slot's restart LSN).", ['slot'], async (gauge) => {
      const rows = await source.query<{ bytes: string | null }>(
        'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS bytes FROM pg_replication_slots WHERE slot_name = $1',
        [catalog.source.slot],
      );
      if (rows.rows[0]?.bytes != null) gauge.set({ slot: catalog.source.slot }, Number(rows.rows[0].bytes));
    });
  }

  /** Reads every polled source now and then every `refreshMs`, until `stop()`. */
  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? METRICS_REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
  }

  /** One pass over the polled sources; a pass still running (a slow admin call) is not doubled. */
  refresh(): Promise<void> {
    this.refreshing ??= Promise.all(this.sources.map((s) => this.read(s)))
      .then(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(source: TrackerMetrics['sources'][number]): Promise<void> {
    try {
      await source.read();
      if (source.failing) this.options.logger.info({ metric: source.what }, 'metric readable again');
      source.failing = false;
    } catch (error) {
      source.gauge.reset();
      if (!source.failing) this.options.logger.warn({ metric: source.what, err: (error as Error).message }, 'metric not readable; left out until it is');
      source.failing = true;
    }
  }
}
