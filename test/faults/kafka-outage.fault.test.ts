import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner } from '../../consumers/sink-runner.js';
import { readTopic } from '../../src/kafka/topic-reader.js';
import { topologyOf } from '../../src/kafka/topology.js';
import { TrackerService } from '../../src/tracker/tracker-service.js';
import { cdcFixture } from '../support/cdc-fixture.js';
import { uniqueName } from '../support/names.js';
import { stackControl } from '../support/stack-control.js';
import { waitFor } from '../support/wait-for.js';
import { createTopicsWithLeaders } from '../support/kafka-context.js';

const SUBJECTS = 80;
const OUTAGE_MS = 30_000;

describe('Kafka down is a wait', () => {
  it('the broker stopped for 30 s mid-burst: the reader, the compacted sink and the tracker go on by themselves; every erasure completes', async () => {
    const trackerSchema = uniqueName('lethe_kafka');
    const profiles = uniqueName('app.profiles').replaceAll('_', '.');
    await using fx = await cdcFixture({
      sinks: () => `  settings: { retryInitialMs: 50, retryMaxMs: 1000 }
  compacted:
    customer: [{ topic: ${profiles}, key: "{subject}" }]
`,
      extra: `tracker: { schema: ${trackerSchema}, overdueCheckMs: 500 }\n`,
    });
    fx.kafka.track(profiles);
    await using stack = stackControl();
    const topology = topologyOf(fx.catalog);
    await createTopicsWithLeaders(fx.kafka.admin, { topics: [{ topic: profiles, numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await using _cleanup = { [Symbol.asyncDispose]: async () => void (await fx.db.client.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`)) };

    const ids = Array.from({ length: SUBJECTS * 2 }, () => randomUUID());
    const [subjects, neighbours] = [ids.slice(0, SUBJECTS), ids.slice(SUBJECTS)];
    const producer = fx.kafka.kafka.producer();
    await producer.connect();
    for (const id of ids) await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, $2)`, [id, `${id.slice(0, 8)}@seeded.example`]);
    await producer.send({ topic: profiles, messages: ids.map((id) => ({ key: id, value: 'profile' })) });
    await producer.disconnect();

    const controller = new AbortController();
    const services = [
      new SinkRunner({ catalog: fx.catalog, connector: createConnector('compacted', fx.catalog, fx.logger), logger: fx.logger }).run(controller.signal),
      new TrackerService({ catalog: fx.catalog, logger: fx.logger, listen: { host: '127.0.0.1', port: 0 } }).run(controller.signal),
    ];
    let ended: unknown;
    void Promise.race(services).then(() => (ended = 'returned'), (error: unknown) => (ended = error));
    const reader = fx.startReader();
    await using _services = { [Symbol.asyncDispose]: async () => void (controller.abort(), await Promise.allSettled(services), await reader.stop()) };

    // Half the subjects before the outage, half while the broker is down.
    for (const id of subjects.slice(0, SUBJECTS / 2)) await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [id]);
    await stack.stop('kafka');
    const stoppedAt = Date.now();
    for (const id of subjects.slice(SUBJECTS / 2)) await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [id]);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    expect(ended, 'no service gave up during the outage').toBeUndefined();
    await stack.start('kafka');

    const db = new pg.Client({ connectionString: fx.catalog.tracker.database });
    await db.connect();
    await using _db = { [Symbol.asyncDispose]: async () => void (await db.end()) };
    await waitFor(
      async () => {
        const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${trackerSchema}.erasures WHERE status = 'complete'`).catch(() => ({ rows: [{ n: '0' }] }));
        return Number(rows[0]!.n) === SUBJECTS;
      },
      { timeoutMs: 120_000, intervalMs: 1000, what: 'every erasure complete after the broker returned' },
    );
    expect(ended).toBeUndefined();
    const { rows: others } = await db.query<{ status: string }>(`SELECT status FROM ${trackerSchema}.erasures WHERE status <> 'complete'`);
    expect(others).toEqual([]);
    expect(await fx.kafka.records(topology.dlq('compacted'))).toEqual([]);
    // The compacted topic itself: the last record of each subject is a tombstone, of each neighbour its value.
    const last = new Map<string, Buffer | null>();
    await readTopic(fx.kafka.kafka, profiles, async (m) => void last.set(m.key!.toString(), m.value));
    expect(subjects.filter((id) => last.get(id) !== null)).toEqual([]);
    expect(neighbours.filter((id) => last.get(id)?.toString() !== 'profile')).toEqual([]);
  });
});

