import { sleep } from '../retry.js';
import { LetheChild, log, percentile, within, type Memory } from './bench-kit.js';
import { groupStable, TARGETS, type SinkContext } from './sink-stage.js';
import { idRange } from './shop-fixture.js';
import { cpuSplitFrom, describeCpuSplit, processRoots, type CpuSplit } from './cpu-split.js';
import { join } from 'node:path';

/**
 * End to end through one `lethe run` child (the reader, the Redis, Elasticsearch and compacted
 * sinks, the tracker): a burst of erasures, one transaction each, timed from the first commit to
 * the last ack of the three sinks; then a paced load at half that rate, one transaction each
 * spread over every 100 ms, for the commit-to-ack latency (an erasure's latency: from its
 * commit to the last of its acks in the three sinks).
 */
export interface LatencyPoint {
  /** Seconds since the paced load began, at the erasure's commit. */
  t: number;
  seconds: number;
  sink: string;
}

export interface EndToEndResult {
  burst: { erasures: number; perSecond: number; seconds: number; completed: boolean; unclean: number; trackerComplete: number; cpu: CpuSplit };
  latency: { targetPerSecond: number; erasures: number; achievedPerSecond: number; p50: number; p99: number; perSink: Record<string, { p50: number; p99: number }>; completed: boolean };
  memory: Memory;
  points: LatencyPoint[];
}

const SINKS = { redis: TARGETS.redis, elasticsearch: TARGETS.elasticsearch, compacted: TARGETS.compacted };

export async function endToEnd(ctx: SinkContext, firstId: number, burst: number, latencySeconds: number): Promise<EndToEndResult> {
  const { shop, watch } = ctx;
  // The paced load takes at most as many subjects as the burst.
  await shop.addUsers(firstId, firstId + 2 * burst - 1);
  await shop.seed(idRange(firstId, 2 * burst));
  log(`end to end: lethe run (reader, three sinks, tracker); a burst of ${burst}`);
  const child = new LetheChild(ctx.catalogPath, undefined, `${ctx.dir}/e2e.log`);
  try {
    for (const g of [...Object.keys(SINKS).map((s) => `sink.${s}`), 'tracker']) await groupStable(ctx.admin, `lethe.bench.${shop.run}.${g}`);
    // A new tracker group starts from the topics' beginning: the sinks stage's erasures and acks
    // are folded first, so the burst meets a tracker that has caught up, as in a running deployment.
    const caughtUp = await within(ctx.timeoutMs, () => trackerCaughtUp(ctx), 500);
    if (!caughtUp) log('end to end: the tracker had not caught up on the earlier stages before the burst');
    const burstIds = new Set(idRange(firstId, burst));
    const cpu = cpuSplitFrom(processRoots(process.env.LETHE_STACK_DIR ?? join(process.cwd(), '.stack'), child.pid));
    await shop.db.query(`CALL ${shop.schema}.erase($1, $2)`, [firstId, firstId + burst - 1]);
    await within(ctx.timeoutMs, () => watch.done(SINKS, burstIds).at.size >= burst || !child.running, 200);
    const split = cpu.end(await backendLabels(ctx));
    // The acks' own times count, not when this process read them: let it read what is there.
    await within(60_000, () => watch.caughtUp(ctx.admin, shop.topics.acks), 200);
    const done = watch.done(SINKS, burstIds);
    const commits = [...watch.commits.values()].filter((c) => burstIds.has(c.subjectId)).map((c) => c.commitTime);
    const first = Math.min(...commits);
    const last = Math.max(...done.at.values());
    const seconds = (last - first) / 1000;
    const perSecond = Math.round(done.at.size / seconds);
    const trackerComplete = await trackerCount(ctx, firstId, burst);
    log(`end to end: ${perSecond}/s (${done.at.size} of ${burst} in ${seconds.toFixed(1)} s; tracker holds ${trackerComplete} complete)`);
    log(`end to end: ${describeCpuSplit(split, done.at.size)}`);

    const target = Math.max(10, Math.round(perSecond / 2));
    const count = Math.min(burst, target * latencySeconds);
    const pacedFrom = firstId + burst;
    log(`latency: ${count} erasures paced at ${target}/s`);
    const started = Date.now();
    let sent = 0;
    while (sent < count) {
      const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * target) + 1);
      if (due > sent) {
        await shop.db.query(`CALL ${shop.schema}.erase($1, $2)`, [pacedFrom + sent, pacedFrom + due - 1]);
        sent = due;
      }
      await sleep(Math.max(0, started + (sent / target) * 1000 - Date.now()));
    }
    const achievedPerSecond = Math.round(count / ((Date.now() - started) / 1000));
    const pacedIds = new Set(idRange(pacedFrom, count));
    const latencyDone = await within(ctx.timeoutMs, () => watch.done(SINKS, pacedIds).at.size >= count || !child.running, 200);
    await within(60_000, () => watch.caughtUp(ctx.admin, shop.topics.acks), 200);
    const paced = watch.done(SINKS, pacedIds);
    const commitOf = new Map([...watch.commits].filter(([, c]) => pacedIds.has(c.subjectId)).map(([id, c]) => [id, c.commitTime]));
    const latencies = (m: Map<string, number>) => [...m].filter(([id]) => commitOf.has(id)).map(([id, at]) => (at - commitOf.get(id)!) / 1000).sort((a, b) => a - b);
    const all = latencies(paced.at);
    const perSink = Object.fromEntries([...paced.perSink].map(([sink, m]) => [sink, { p50: percentile(latencies(m), 50), p99: percentile(latencies(m), 99) }]));
    const points = [...paced.perSink].flatMap(([sink, m]) =>
      [...m].filter(([id]) => commitOf.has(id)).map(([id, at]) => ({ t: (commitOf.get(id)! - started) / 1000, seconds: (at - commitOf.get(id)!) / 1000, sink })),
    );
    log(`latency: p50 ${percentile(all, 50).toFixed(2)} s, p99 ${percentile(all, 99).toFixed(2)} s at ${achievedPerSecond}/s`);
    const memory = await child.stop();
    return {
      burst: { erasures: done.at.size, perSecond, seconds, completed: done.at.size >= burst, unclean: done.unclean, trackerComplete, cpu: split },
      latency: { targetPerSecond: target, erasures: paced.at.size, achievedPerSecond, p50: percentile(all, 50), p99: percentile(all, 99), perSink, completed: latencyDone },
      memory,
      points,
    };
  } finally {
    await child.stop();
  }
}

/** The tracker's complete erasures, waited for up to 30 s beyond the sinks' last ack. */
async function trackerCount(ctx: SinkContext, firstId: number, want: number): Promise<number> {
  const sql = `SELECT count(*) AS n FROM ${ctx.shop.run}_tracker.erasures WHERE status = 'complete' AND subject_id::bigint BETWEEN $1 AND $2`;
  const query = async () => {
    try {
      return Number((await ctx.shop.db.query(sql, [firstId, firstId + want - 1])).rows[0].n);
    } catch {
      return 0; // its tables not created yet
    }
  };
  let n = 0;
  await within(30_000, async () => (n = await query()) >= want, 200);
  return n;
}

/**
 * PostgreSQL's backends by what they serve: the walsender (the reader's slot), this bench's own
 * connection (the erasures' transactions), and Lethe's other connections (the tracker, the sinks'
 * holds and primary reads).
 */
async function backendLabels(ctx: SinkContext): Promise<Map<number, string>> {
  const { rows } = await ctx.shop.db.query<{ pid: number; kind: string }>(
    `SELECT pid, CASE WHEN backend_type = 'walsender' THEN 'walsender' WHEN pid = pg_backend_pid() THEN 'erasing' WHEN backend_type = 'client backend' THEN 'lethe clients' ELSE backend_type END AS kind FROM pg_stat_activity`,
  );
  return new Map(rows.map((r) => [r.pid, r.kind]));
}

/** Whether the tracker's group has committed every offset of the erasures and acks topics. */
async function trackerCaughtUp(ctx: SinkContext): Promise<boolean> {
  const { shop, admin } = ctx;
  const topics = [shop.topics.erasures, shop.topics.acks];
  const committed = await admin.fetchOffsets({ groupId: `lethe.bench.${shop.run}.tracker`, topics });
  for (const { topic, partitions } of committed) {
    const high = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
    for (const p of partitions) if (BigInt(p.offset === '-1' ? '0' : p.offset) < (high.get(p.partition) ?? 0n)) return false;
  }
  return true;
}

