import { describe, expect, it } from 'vitest';
import { createConnector } from '../../../connectors/connector-factory.js';
import { DeadLetters } from '../../../src/dlq/dead-letters.js';
import { alterTopicConfig } from '../../../src/kafka/topic-config.js';
import { TrackerService } from '../../../src/tracker/tracker-service.js';
import type { ErasureStatus } from '../../../src/tracker/erasure-status.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { sinkFixture, userErased } from '../../support/sink-fixture.js';
import { waitFor } from '../../support/wait-for.js';
import pg from 'pg';

describe('dead letters can be re-driven', () => {
  it('a target misconfigured fails its erasures; once fixed, a redrive turns them complete, and the proof shows both', async () => {
    const e = endpoints();
    const trackerSchema = uniqueName('lethe_dlq');
    const profiles = uniqueName('app.profiles').replaceAll('_', '.');
    await using fx = await sinkFixture(
      `  compacted:
    user: [{ topic: ${profiles}, key: "{subject}" }]
`,
      `tracker: { database: "${e.databaseUrl}", schema: ${trackerSchema}, overdueCheckMs: 500 }`,
    );
    fx.kafka.track(profiles);
    // The misconfiguration: the topic the catalog names deletes by time, so a tombstone erases nothing.
    await fx.kafka.createTopics([{ topic: profiles, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] }]);
    // The application's copies: one profile record per subject.
    const producer = fx.kafka.kafka.producer();
    await producer.connect();
    await producer.send({ topic: profiles, acks: -1, messages: ['7', '07', '70'].map((key) => ({ key, value: `profile ${key}` })) });
    await producer.disconnect();
    const db = new pg.Client({ connectionString: e.databaseUrl });
    await db.connect();
    await using _db = { [Symbol.asyncDispose]: async () => void (await db.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`), await db.end()) };

    let api = '';
    const controller = new AbortController();
    const tracker = new TrackerService({ catalog: fx.catalog, logger: fx.logger, listen: { host: '127.0.0.1', port: 0 }, onListening: (url) => (api = url) }).run(controller.signal);
    await using _tracker = { [Symbol.asyncDispose]: async () => void (controller.abort(), await tracker) };
    fx.startRunner(createConnector('compacted', fx.catalog, fx.logger));
    const events = ['7', '07', '70'].map((id) => userErased(id));
    await fx.publish(events);
    const statusOf = async (id: string) => (await (await fetch(`${api}/api/erasures/${id}`)).json()) as ErasureStatus;
    await waitFor(async () => api !== '' && (await Promise.all(events.map((ev) => statusOf(ev.eventId)))).every((s) => s.status === 'failed'), { timeoutMs: 30_000, what: 'the erasures to fail' });

    const letters = new DeadLetters({ catalog: fx.catalog, sink: 'compacted', logger: fx.logger });
    const listed = await letters.list();
    const byEvent = (rows: string[][]) => rows.sort((a, b) => a[0]!.localeCompare(b[0]!));
    expect(byEvent(listed.map((l) => [l.eventId!, l.subject, String(l.redriven)]))).toEqual(byEvent(events.map((ev) => [ev.eventId, `user:${ev.subjectId}`, 'false'])));
    expect(listed[0]!.reason).toMatch(new RegExp(`cleanup.policy=delete`));

    // Fixed by an operator; re-driven through the live runner.
    await alterTopicConfig(fx.kafka.admin, profiles, { 'cleanup.policy': 'compact' });
    expect(await letters.redrive()).toEqual({ sent: 3, records: 3 });
    const complete = await waitFor(
      async () => {
        const statuses = await Promise.all(events.map((ev) => statusOf(ev.eventId)));
        return statuses.every((s) => s.status === 'complete') ? statuses : undefined;
      },
      { timeoutMs: 30_000, what: 'the re-driven erasures to complete' },
    );
    for (const status of complete) {
      expect(status.targets.find((t) => t.sink === 'compacted')).toMatchObject({ state: 'applied', affected: 1, residual: 0 });
      // The failure stays in the timeline: the proof shows it was failed, then applied.
      expect(status.timeline.filter((t) => t.what === 'ack').map((t) => t.outcome)).toEqual(['FAILED', 'APPLIED']);
    }
    expect((await letters.list()).every((l) => l.redriven)).toBe(true);
    // A second redrive sends nothing: each dead letter is re-driven once unless asked again.
    expect(await letters.redrive()).toEqual({ sent: 0, records: 3 });
    expect(await letters.redrive({ eventId: events[1]!.eventId })).toEqual({ sent: 1, records: 3 });
  });
});
