import { Redis } from 'ioredis';
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { RedisConnector } from '../../../connectors/redis-connector.js';
import type { ErasureAck } from '../../../consumers/sink-runner.js';
import type { SubjectErased } from '../../../src/cdc/erasure-manifest.js';
import { parseSinkHealth } from '../../../src/kafka/sink-health.js';
import { redeliverReleased } from '../../../src/holds/hold-redelivery.js';
import { parseSubjectRef } from '../../../src/holds/hold-scope.js';
import { HoldStore } from '../../../src/holds/hold-store.js';
import { expectedTargetsOf, foldErasure, type AckRecord } from '../../../src/tracker/erasure-status.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';

const redisYaml = (p: string) => `  redis:
    url: ${endpoints().redisUrl}
    user:
      keys: ["${p}:user:{subject}"]
      hashFields: [{ key: "${p}:emails", field: "{subject}" }]
`;

/** The facts the tracker keeps of an event, for folding its acks here. */
const factsOf = (e: SubjectErased) => ({ eventId: e.eventId, subjectType: e.subjectType, subjectId: e.subjectId, requestId: e.requestId, operation: e.operation, sourceTable: e.sourceTable, commitLsn: e.commitLsn, commitTime: e.commitTime, related: [] });

/**
 * A Redis sink under a fresh key prefix `p`, with a Redis client, a pool on the tracker's database
 * and the hold store in the tracker's schema; all closed on disposal.
 */
async function heldSink() {
  const p = uniqueName('h');
  const fx = await sinkFixture(redisYaml(p));
  const redis = new Redis(endpoints().redisUrl);
  const pool = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 2 });
  const holds = new HoldStore(pool, fx.trackerSchema);
  return {
    p,
    fx,
    redis,
    pool,
    holds,
    async [Symbol.asyncDispose]() {
      try {
        redis.disconnect();
        await pool.end();
      } finally {
        await fx[Symbol.asyncDispose]();
      }
    },
  };
}

describe('legal holds at a sink', () => {
  it('keeps a held subject, erases its neighbour, and erases the held one through the same path once released', async () => {
    await using sink = await heldSink();
    const { p, fx, redis, pool, holds } = sink;
    await holds.ensureSchema();
    // A key value the subject id percent-encodes: the hold must name the subject as the events do.
    const heldId = 'h 1';
    const neighbourId = 'h 2';
    for (const id of [heldId, neighbourId]) {
      await redis.set(`${p}:user:${id}`, 'profile');
      await redis.hset(`${p}:emails`, id, 'seeded@example.com');
    }
    const subject = parseSubjectRef(fx.catalog, `user:${heldId}`);
    const hold = await holds.place({ ...subject, scope: 'sink:redis', basis: 'litigation hold, case 2026-114', reviewAt: '2099-06-30', placedBy: 'cli:test' });
    // A hold for another sink does not keep Redis from erasing the neighbour.
    await holds.place({ ...parseSubjectRef(fx.catalog, `user:${neighbourId}`), scope: 'sink:bigquery', basis: 'not this sink', reviewAt: '2099-06-30', placedBy: 'cli:test' });

    const acks = await fx.acks();
    fx.startRunner(new RedisConnector(fx.catalog.sinks.redis!));
    const held = userErased(heldId, [], { requestId: 'req_held' });
    const neighbour = userErased(neighbourId);
    await fx.publish([held, neighbour]);

    const of = (e: SubjectErased, outcome: ErasureAck['outcome']) => acks.values.filter((a) => a.eventId === e.eventId && a.outcome === outcome);
    await waitFor(() => of(neighbour, 'APPLIED').length === 2 && of(held, 'HELD').length === 2, { timeoutMs: 30_000, what: 'the neighbour applied and the held subject acked HELD' });
    expect(await redis.exists(`${p}:user:${neighbourId}`)).toBe(0);
    expect(await redis.hexists(`${p}:emails`, neighbourId)).toBe(0);
    expect(await redis.exists(`${p}:user:${heldId}`)).toBe(1);
    expect(await redis.hexists(`${p}:emails`, heldId)).toBe(1);
    expect(of(held, 'HELD').map((a) => [a.target, a.details, a.requestId]).sort()).toEqual([
      [`hash ${p}:emails field {subject}`, { hold: hold.id, basis: 'litigation hold, case 2026-114', review: '2099-06-30' }, 'req_held'],
      [`key ${p}:user:{subject}`, { hold: hold.id, basis: 'litigation hold, case 2026-114', review: '2099-06-30' }, 'req_held'],
    ]);
    expect(of(held, 'APPLIED')).toEqual([]);
    const stored = await pool.query(`SELECT hold_id, sink, event_id, part, redelivered_at FROM ${pg.escapeIdentifier(fx.trackerSchema)}.held_events`);
    expect(stored.rows).toEqual([{ hold_id: hold.id, sink: 'redis', event_id: held.eventId, part: 1, redelivered_at: null }]);

    // The tracker's fold: held, with nothing open.
    const fold = () =>
      foldErasure({ facts: factsOf(held), expected: expectedTargetsOf(fx.catalog, 'user'), acks: acks.values.filter((a) => a.eventId === held.eventId) as AckRecord[], confirmations: [], slaMs: 3_600_000, now: Date.now() });
    expect(fold().status).toBe('held');

    // Nothing is sent on while the hold stands.
    const producer = fx.kafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await using _p = { [Symbol.asyncDispose]: () => producer.disconnect() };
    expect(await redeliverReleased({ catalog: fx.catalog, pool, producer })).toBe(0);

    expect((await holds.release(hold.id, 'cli:test', 'case closed')).released).toBe(true);
    expect(await redeliverReleased({ catalog: fx.catalog, pool, producer })).toBe(1);
    // Idempotent: what was sent on is not sent again.
    expect(await redeliverReleased({ catalog: fx.catalog, pool, producer })).toBe(0);

    await waitFor(() => of(held, 'APPLIED').length === 2, { timeoutMs: 30_000, what: 'the released erasure applied' });
    expect(await redis.exists(`${p}:user:${heldId}`)).toBe(0);
    expect(await redis.hexists(`${p}:emails`, heldId)).toBe(0);
    expect(of(held, 'APPLIED').every((a) => a.requestId === 'req_held')).toBe(true);
    expect(fold().status).toBe('complete');
    const marked = await pool.query(`SELECT redelivered_at FROM ${pg.escapeIdentifier(fx.trackerSchema)}.held_events`);
    expect(marked.rows[0].redelivered_at).toBeInstanceOf(Date);
    await redis.unlink(`${p}:emails`);
  });

  it('waits, neither applying nor acking, while the holds cannot be read, and goes on when they can', async () => {
    await using sink = await heldSink();
    const { p, fx, redis, pool, holds } = sink;
    const acks = await fx.acks();
    fx.startRunner(new RedisConnector(fx.catalog.sinks.redis!));
    // Running and reading holds: a first erasure goes through.
    const first = userErased('w1');
    await fx.publish([first]);
    await waitFor(() => acks.values.some((a) => a.eventId === first.eventId), { timeoutMs: 30_000, what: 'the first erasure acked' });

    // The holds tables go away (a restored or broken tracker database): no hold can be read.
    await pool.query(`DROP SCHEMA ${pg.escapeIdentifier(fx.trackerSchema)} CASCADE`);
    await redis.set(`${p}:user:w2`, 'profile');
    const second = userErased('w2');
    await fx.publish([second]);
    const waiting = await waitFor(
      async () => (await fx.kafka.records(fx.topics.health)).map((m) => parseSinkHealth(m.value)).find((h) => h?.state === 'waiting' && h.service === 'postgres'),
      { timeoutMs: 30_000, what: 'the sink to report waiting for postgres' },
    );
    expect(waiting.reason).toMatch(/reading legal holds/);
    expect(await redis.exists(`${p}:user:w2`)).toBe(1);
    expect(acks.values.filter((a) => a.eventId === second.eventId)).toEqual([]);

    // Readable again: the wait ends by itself, and the erasure is applied and acked.
    await holds.ensureSchema();
    await waitFor(() => acks.values.some((a) => a.eventId === second.eventId && a.outcome === 'APPLIED'), { timeoutMs: 30_000, what: 'the second erasure applied after the wait' });
    expect(await redis.exists(`${p}:user:w2`)).toBe(0);
  });
});
