import type { Admin } from 'kafkajs';
import { parseCatalog } from '../catalog/catalog.js';
import type { AckWatch } from './ack-watch.js';
import { LetheChild, log, slotPast, within, type Memory } from './bench-kit.js';
import { compactedReference } from './reference/compacted-reference.js';
import { elasticsearchReference } from './reference/elasticsearch-reference.js';
import { redisReference } from './reference/redis-reference.js';
import type { ReferenceResult } from './reference/in-chunks.js';
import { idRange, REFERENCE_BASE, type Shop } from './shop-fixture.js';

/**
 * The sink rows of `make bench`: a backlog of `n` erasures (one transaction each) published by
 * `lethe run --only cdc`; then per sink, on its own: the hand-written reference on `n` other
 * subjects with the same data in the same store, the reference's data seeded again (so the
 * sink meets the store as the reference did), then `lethe run --only sink:<name>` as a child
 * through the backlog. The sink's time runs from its consumer group being stable to its last
 * ack; the reference's from its first command to its last reply.
 */
export const TARGETS = { redis: 4, elasticsearch: 1, compacted: 2 } as const;
export type BenchSink = keyof typeof TARGETS;

export interface SinkRow {
  lethe: { perSecond: number; seconds: number; erasures: number; unclean: number; completed: boolean; memory: Memory };
  reference: { perSecond: number; seconds: number; affected: number; residual: number };
}

export interface SinkContext {
  admin: Admin;
  shop: Shop;
  watch: AckWatch;
  catalogPath: string;
  dir: string;
  timeoutMs: number;
}

/** Waits until the group has members and is stable (up to 60 s); returns when, or now. */
export async function groupStable(admin: Admin, groupId: string): Promise<number> {
  await within(60_000, async () => {
    const { groups } = await admin.describeGroups([groupId]);
    return groups[0]?.state === 'Stable' && groups[0].members.length > 0;
  }, 50);
  return Date.now();
}

export async function publishBacklog(ctx: SinkContext, n: number): Promise<void> {
  const { shop } = ctx;
  log(`sinks: ${n} subjects with data in Redis, Elasticsearch and a compacted topic; ${n} more for the references`);
  await shop.addUsers(1, n);
  await shop.seed(idRange(1, n));
  const reference = idRange(REFERENCE_BASE + 1, n);
  await shop.seedRedis(reference);
  await shop.seedElasticsearch(reference);
  await shop.seedCompacted(reference, shop.topics.referenceProfiles);
  const child = new LetheChild(ctx.catalogPath, 'cdc', `${ctx.dir}/backlog-cdc.log`);
  await shop.db.query(`CALL ${shop.schema}.erase(1, $1)`, [n]);
  const end = (await shop.db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
  const confirmed = await within(ctx.timeoutMs, () => slotPast(shop.db, shop.slot, end));
  await child.stop();
  if (!confirmed) throw new Error(`the sinks' backlog of ${n} erasures was not published within ${ctx.timeoutMs / 1000} s (see ${child.logPath})`);
}

async function runReference(ctx: SinkContext, sink: BenchSink, ids: string[]): Promise<ReferenceResult> {
  const { shop } = ctx;
  const catalog = parseCatalog(JSON.stringify(shop.catalog()), {});
  const chunk = catalog.sinks.settings.maxBatchEvents;
  // As many chunks at once as the sink works partitions at once.
  const concurrency = catalog.sinks.settings.partitionsInParallel;
  if (sink === 'redis') {
    const k = shop.redisKeys('');
    const prefix = k.sessionPattern.slice(0, -':*'.length);
    const names = {
      user: (id: string) => shop.redisKeys(id).user,
      sessionPrefix: prefix,
      sessionSubject: (key: string) => (key.startsWith(prefix) ? key.slice(prefix.length).split(':')[0] : undefined),
      emails: k.emails,
      active: k.active,
    };
    return redisReference(shop.redis, names, ids, chunk, concurrency);
  }
  if (sink === 'elasticsearch') return elasticsearchReference(shop.es, shop.index, 'user_id', ids, chunk, concurrency);
  const history = catalog.sinks.compacted?.verification.historyRecords ?? 100_000;
  return compactedReference(shop.kafka, ctx.admin, shop.topics.referenceProfiles, (id) => shop.profileKeys(id), ids, chunk, history);
}

async function reseed(shop: Shop, sink: BenchSink, ids: string[]): Promise<void> {
  if (sink === 'redis') await shop.seedRedis(ids);
  else if (sink === 'elasticsearch') await shop.seedElasticsearch(ids);
}

export async function sinkRow(ctx: SinkContext, sink: BenchSink, n: number): Promise<SinkRow> {
  const referenceIds = idRange(REFERENCE_BASE + 1, n);
  log(`${sink}: reference`);
  const ref = await runReference(ctx, sink, referenceIds);
  await reseed(ctx.shop, sink, referenceIds);
  log(`${sink}: reference ${Math.round(n / ref.seconds)}/s (${ref.seconds.toFixed(1)} s, affected ${ref.affected}, residual ${ref.residual}); lethe run --only sink:${sink}`);
  const child = new LetheChild(ctx.catalogPath, `sink:${sink}`, `${ctx.dir}/sink-${sink}.log`);
  const from = await groupStable(ctx.admin, `lethe.bench.${ctx.shop.run}.sink.${sink}`);
  const subjects = new Set(idRange(1, n));
  await within(ctx.timeoutMs, () => ctx.watch.done({ [sink]: TARGETS[sink] }, subjects).at.size >= n || !child.running, 200);
  const memory = await child.stop();
  await within(60_000, () => ctx.watch.caughtUp(ctx.admin, ctx.shop.topics.acks), 200);
  const done = ctx.watch.done({ [sink]: TARGETS[sink] }, subjects);
  const times = [...done.at.values()];
  const last = times.length > 0 ? Math.max(...times) : Date.now();
  const seconds = Math.max(0.001, (last - from) / 1000);
  const row: SinkRow = {
    lethe: { perSecond: Math.round(done.at.size / seconds), seconds, erasures: done.at.size, unclean: done.unclean, completed: done.at.size >= n, memory },
    reference: { perSecond: Math.round(n / ref.seconds), seconds: ref.seconds, affected: ref.affected, residual: ref.residual },
  };
  log(`${sink}: lethe ${row.lethe.perSecond}/s (${done.at.size} of ${n} erasures in ${seconds.toFixed(1)} s, ${done.unclean} acks not clean)`);
  return row;
}
