import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@elastic/elasticsearch';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createConnector } from '../../connectors/connector-factory.js';
import { topologyOf } from '../../src/kafka/topology.js';
import { SinkRunner } from '../../consumers/sink-runner.js';
import { readTopic } from '../../src/kafka/topic-reader.js';
import { replayErasures } from '../../src/replay/erasure-replay.js';
import { createToken } from '../../src/tracker/api-tokens.js';
import type { ErasureStatus } from '../../src/tracker/erasure-status.js';
import { TrackerService } from '../../src/tracker/tracker-service.js';
import { cdcFixture } from '../support/cdc-fixture.js';
import { endpoints } from '../support/endpoints.js';
import { uniqueName } from '../support/names.js';
import { waitFor } from '../support/wait-for.js';

const CHROMIUM = '/usr/bin/chromium';
const SLA_SECONDS = 15;

// The tracker against the whole pipeline: a deleted customer's erasure is pending, partial while a
// manual system is unconfirmed, complete once confirmed; a stopped sink makes another erasure
// overdue under a short SLA and complete when it returns; a restored store is cleaned again by
// replay; the dashboard shows it live in a real browser; a restarted tracker loses nothing.
describe('tracker, end to end', () => {
  it('folds acks into status, proves the erasure, serves the dashboard, replays after a restore', async () => {
    const e = endpoints();
    const p = uniqueName('trk').replaceAll('_', '-');
    const trackerSchema = uniqueName('lethe_trk');
    const operator = createToken('ops-lee', 'operator');
    const auth = { authorization: `Bearer ${operator.token}` };
    await using fx = await cdcFixture({
      sinks: (schema) => `  settings: { retryInitialMs: 20, retryMaxMs: 200 }
  redis:
    url: ${e.redisUrl}
    customer:
      keys: ["${p}:customer:{subject}"]
      related: { '"${schema}"."Orders"': ["${p}:order:{row.id}"] }
  elasticsearch:
    node: ${e.elasticsearchUrl}
    customer:
      - { index: "${p}-customers", match: customer_id, action: delete }
`,
      extra: `manual:
  - { name: support-inbox, owner: support@corp.example, action: redact tickets }
backups:
  - { name: pg-nightly, retention: 30d, onRestore: "lethe replay --sink primary --since <backup time>" }
tracker: { sla: ${SLA_SECONDS}s, overdueCheckMs: 300, schema: ${trackerSchema}, tokens: [{ name: ops-lee, role: operator, sha256: ${operator.entry.sha256} }] }
`,
    });
    const catalog = fx.catalog;
    const redis = new Redis(e.redisUrl);
    const es = new Client({ node: e.elasticsearchUrl });
    await es.indices.create({ index: `${p}-customers`, settings: { number_of_replicas: 0 }, mappings: { properties: { customer_id: { type: 'keyword' }, email: { type: 'keyword' } } } });
    await using _cleanup = {
      [Symbol.asyncDispose]: async () => {
        await es.indices.delete({ index: `${p}-*`, ignore_unavailable: true });
        const keys = await redis.keys(`${p}:*`);
        if (keys.length > 0) await redis.unlink(...keys);
        await fx.db.client.query(`DROP SCHEMA IF EXISTS ${trackerSchema} CASCADE`);
        redis.disconnect();
        await es.close();
      },
    };

    const emails = new Map<string, string>();
    const seedStores = async (id: string, orderId: string) => {
      await redis.set(`${p}:customer:${id}`, emails.get(id)!);
      await redis.set(`${p}:order:${orderId}`, 'order');
      await es.index({ index: `${p}-customers`, refresh: true, document: { customer_id: id, email: emails.get(id) } });
    };
    const orderOf = new Map<string, string>();
    for (const id of [randomUUID(), randomUUID()]) {
      emails.set(id, `${id.slice(0, 8)}@seeded.example`);
      await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, $2)`, [id, emails.get(id)]);
      const { rows } = await fx.db.client.query<{ id: string }>(`INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'lamp') RETURNING id::text`, [id]);
      orderOf.set(id, rows[0]!.id);
      await seedStores(id, rows[0]!.id);
    }
    const [a, b] = [...emails.keys()] as [string, string];

    const stops = new Map<string, () => Promise<void>>();
    const start = (name: string, run: (signal: AbortSignal) => Promise<void>) => {
      const controller = new AbortController();
      const running = run(controller.signal);
      stops.set(name, async () => {
        controller.abort();
        await running;
        stops.delete(name);
      });
    };
    await using _services = { [Symbol.asyncDispose]: async () => void (await Promise.all([...stops.values()].map((stop) => stop()))) };
    // Groups, dead-letter and retry topics are this test's own: the topology names them under its erasures topic.
    const topology = topologyOf(catalog);
    const startSink = (sink: 'redis' | 'elasticsearch') =>
      start(sink, (signal) =>
        new SinkRunner({
          catalog,
          connector: createConnector(sink, catalog, fx.logger),
          logger: fx.logger,
        }).run(signal),
      );
    let api = '';
    const startTracker = async () => {
      let listening!: (url: string) => void;
      const url = new Promise<string>((resolve) => (listening = resolve));
      start('tracker', (signal) =>
        new TrackerService({
          catalog,
          logger: fx.logger,
          listen: { host: '127.0.0.1', port: 0 },
          onListening: listening,
          metricsRefreshMs: 200,
        }).run(signal),
      );
      api = await url;
    };
    const get = async (path: string) => {
      const response = await fetch(`${api}${path}`, { headers: auth });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${api}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const erasureOf = async (id: string) => {
      const { body } = await get(`/api/subjects/customer:${id}/erasures`);
      return (body.erasures as ErasureStatus[])[0];
    };
    const waitStatus = (id: string, status: ErasureStatus['status'], timeoutMs = 60_000) =>
      waitFor(async () => {
        const erasure = await erasureOf(id);
        return erasure?.status === status ? erasure : undefined;
      }, { timeoutMs, intervalMs: 200, what: `erasure of ${id} to be ${status}` });

    startSink('redis');
    startSink('elasticsearch');
    fx.startReader();
    await startTracker();

    // The SLA is short: erase only once every group has joined, so A is well within it.
    await waitFor(
      async () => {
        const { groups } = await fx.kafka.admin.describeGroups([topology.sinkGroup('redis'), topology.sinkGroup('elasticsearch'), topology.trackerGroup]);
        return groups.every((g) => g.state === 'Stable');
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the sink and tracker consumer groups to be stable' },
    );

    // A: erased by every sink, then partial until the support inbox confirms.
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [a]);
    const partial = await waitFor(
      async () => {
        const erasure = await erasureOf(a);
        return erasure?.status === 'partial' && erasure.targets.every((t) => t.kind !== 'sink' || t.state === 'applied') ? erasure : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `every sink target of ${a}'s erasure applied` },
    );
    expect(partial.targets.filter((t) => t.kind === 'sink').map((t) => [t.sink, t.target, t.state])).toEqual([
      ['redis', `key ${p}:customer:{subject}`, 'applied'],
      ['redis', `related "${fx.schema}"."Orders" key ${p}:order:{row.id}`, 'applied'],
      ['elasticsearch', `index ${p}-customers`, 'applied'],
    ]);
    expect(partial.targets.find((t) => t.kind === 'manual')).toMatchObject({ target: 'support-inbox', state: 'pending', owner: 'support@corp.example' });
    const backup = partial.targets.find((t) => t.kind === 'backup')!;
    expect(backup.heldUntil).toBe(partial.facts!.commitTime + 30 * 86_400_000);
    expect(partial.facts!.related).toEqual([{ table: `"${fx.schema}"."Orders"`, operation: 'DELETE', rows: 1 }]);

    // The API's errors are JSON with a code.
    expect(await get('/api/erasures/no-such-erasure')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await get('/api/erasures?status=finished')).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(await get('/api/erasures?since=yesterday')).toMatchObject({ status: 400 });
    expect(await post(`/api/erasures/${partial.eventId}/confirm`, { system: 'support-inbox' })).toMatchObject({ status: 400 });
    expect(await post(`/api/erasures/${partial.eventId}/confirm`, { system: 'billing', by: 'ops' })).toMatchObject({ status: 400, body: { error: { code: 'NOT_A_MANUAL_SYSTEM' } } });
    expect((await get('/api/erasures?status=partial,complete&limit=5')).body.erasures).toEqual(expect.arrayContaining([expect.objectContaining({ eventId: partial.eventId })]));

    const confirmed = await post(`/api/erasures/${partial.eventId}/confirm`, { system: 'support-inbox', by: 'Lee', note: 'ticket 4411 redacted' });
    expect(confirmed).toMatchObject({ status: 201, body: { status: 'complete' } });
    expect((await post(`/api/erasures/${partial.eventId}/confirm`, { system: 'support-inbox', by: 'someone-else' })).status).toBe(200);
    const complete = (await get(`/api/erasures/${partial.eventId}`)).body as unknown as ErasureStatus;
    expect(complete.targets.find((t) => t.kind === 'manual')).toMatchObject({ state: 'confirmed', confirmedBy: 'Lee', confirmedVia: 'token:ops-lee' });
    expect(complete.timeline.map((t) => t.what)).toEqual(expect.arrayContaining(['committed', 'ack', 'confirmed']));

    const report = await (await fetch(`${api}/api/erasures/${partial.eventId}/report?format=md`, { headers: auth })).text();
    const until = new Date(partial.facts!.commitTime + 30 * 86_400_000).toISOString().slice(0, 10);
    expect(report).toContain(`**Removed from all active systems; copies remain in pg-nightly until ${until}.**`);
    expect(report).toContain('| manual | support-inbox | confirmed by Lee (token ops-lee): ticket 4411 redacted |');
    expect(report).not.toContain(emails.get(a));
    expect((await fetch(`${api}/api/erasures/${partial.eventId}/report?format=html`, { headers: auth })).headers.get('content-type')).toMatch(/text\/html/);

    // The same through the built CLI, as an operator runs it.
    const config = join(tmpdir(), `${p}.lethe.yaml`);
    await writeFile(config, fx.yaml);
    await using _config = { [Symbol.asyncDispose]: () => rm(config, { force: true }) };
    const cli = async (...args: string[]) => (await promisify(execFile)('node', ['bin/lethe.js', '-c', config, ...args])).stdout;
    const cliReport = JSON.parse(await cli('report', `customer:${a}`, '--format', 'json')) as { eventId: string; summary: string };
    expect(cliReport).toMatchObject({ eventId: partial.eventId, summary: `Removed from all active systems; copies remain in pg-nightly until ${until}.` });
    expect(await cli('status', '--subject', `customer:${a}`)).toMatch(new RegExp(`^complete\\s+${partial.eventId}\\s+customer:${a}\\s.*4/4 targets done$`, 'm'));

    // The compacted status topic carries the latest status per erasure.
    const registry = new SchemaRegistry({ host: e.schemaRegistryUrl });
    const latest = new Map<string, string>();
    await readTopic(fx.kafka.kafka, catalog.kafka.topics.status, async (m) => {
      const value = (await registry.decode(m.value!)) as { status: string };
      latest.set(m.key!.toString(), value.status);
    });
    expect(latest.get(partial.eventId)).toBe('COMPLETE');

    // The metrics read this test's groups and dead-letter topics: both sinks have consumed every
    // erasure (a group that never committed would lag by all of them), and the one record put in
    // Redis's dead-letter topic is counted there and nowhere else.
    const producer = fx.kafka.kafka.producer();
    await producer.connect();
    await producer.send({ topic: topology.dlq('redis'), acks: -1, messages: [{ key: 'customer:unknown', value: 'not an erasure' }] });
    await producer.disconnect();
    const escaped = (name: string) => name.replaceAll('.', '\\.');
    const lagOf = (text: string, group: string, topic: string) =>
      new RegExp(`^lethe_consumer_lag\\{group="${escaped(group)}",topic="${escaped(topic)}"\\} (\\d+)$`, 'm').exec(text)?.[1];
    const groups = [
      [topology.sinkGroup('redis'), catalog.kafka.topics.erasures],
      [topology.sinkGroup('elasticsearch'), catalog.kafka.topics.erasures],
      [topology.trackerGroup, catalog.kafka.topics.acks],
    ] as const;
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${api}/metrics`)).text();
        // Read in the background (never per scrape): the dead letter shows on a refresh after it was sent.
        return groups.every(([group, topic]) => lagOf(text, group, topic) === '0') && /^lethe_dlq_records\{sink="redis"\} 1$/m.test(text) ? text : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: "the sink groups' and the tracker's consumer lag to be 0, and the dead letter counted" },
    );
    expect(await fx.publishedCount()).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^lethe_erasures\{status="complete"\} [1-9]/m);
    expect(metrics).toMatch(/^lethe_ack_latency_seconds_count\{sink="elasticsearch"\} [1-9]/m);
    expect(metrics).toMatch(new RegExp(`^lethe_slot_wal_retained_bytes\\{slot="${fx.slotName}"\\} \\d+`, 'm'));
    expect(metrics).toMatch(/^lethe_dlq_records\{sink="redis"\} 1$/m);
    expect(metrics).toMatch(/^lethe_dlq_records\{sink="elasticsearch"\} 0$/m);

    // The dashboard in a real browser: B's erasure appears while Elasticsearch's sink is stopped,
    // goes overdue under the short SLA, and turns complete live once the sink returns.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }).catch((error: Error) => {
      throw new Error(`Chromium at ${CHROMIUM} did not start (make test installs it with stack/stack.sh browser): ${error.message}`);
    });
    await using _browser = { [Symbol.asyncDispose]: () => browser.close() };
    const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
    await page.goto(api);
    await page.fill('#token', operator.token);
    await page.click('#login button');
    await page.locator(`tr[data-erasure="${partial.eventId}"][data-status="complete"]`).waitFor({ timeout: 15_000 });

    await stops.get('elasticsearch')!();
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [b]);
    const pendingB = await waitFor(async () => (await erasureOf(b)) ?? undefined, { timeoutMs: 30_000, what: `an erasure of ${b}` });
    await page.locator(`tr[data-erasure="${pendingB.eventId}"]`).waitFor({ timeout: 15_000 });
    const overdue = await waitStatus(b, 'overdue', (SLA_SECONDS + 30) * 1000);
    expect(overdue.targets.find((t) => t.sink === 'elasticsearch')!.state).toBe('pending');
    await page.locator(`tr[data-erasure="${pendingB.eventId}"][data-status="overdue"]`).waitFor({ timeout: 15_000 });
    // Overdue and failed erasures come first.
    expect(await page.locator('tbody tr').first().getAttribute('data-erasure')).toBe(pendingB.eventId);
    expect(await cli('confirm', pendingB.eventId, 'support-inbox', '--by', 'ops-kim', '--note', 'nothing in the inbox')).toBe(
      `confirmed support-inbox for erasure ${pendingB.eventId} (customer:${b}); status now overdue\n`,
    );
    startSink('elasticsearch');
    const doneB = await waitStatus(b, 'complete');
    expect(doneB.completedAt).toBeGreaterThan(doneB.dueAt!);
    await page.locator(`tr[data-erasure="${pendingB.eventId}"][data-status="complete"]`).waitFor({ timeout: 15_000 });
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });

    // Restore simulation while the tracker is down: A's data comes back into Elasticsearch, Redis
    // and the primary; replay since before the erasure removes it again, store by store.
    await stops.get('tracker')!();
    await seedStores(a, orderOf.get(a)!);
    const before = partial.facts!.commitTime - 1000;
    for (const sink of ['elasticsearch', 'redis'] as const) {
      const summary = await replayErasures({ catalog, sink, since: before, logger: fx.logger });
      expect(summary.remaining).toBe(0n);
      expect(summary.acks.APPLIED).toBeGreaterThanOrEqual(1);
      expect(summary.acks.FAILED).toBe(0);
    }
    expect(await redis.exists(`${p}:customer:${a}`, `${p}:order:${orderOf.get(a)}`)).toBe(0);
    expect((await es.count({ index: `${p}-customers`, query: { term: { customer_id: a } } })).count).toBe(0);
    expect((await es.count({ index: `${p}-customers`, query: { term: { customer_id: b } } })).count).toBe(0);

    // The restored primary: A's row and order are back; replay deletes them again.
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, $2)`, [a, emails.get(a)]);
    await fx.db.client.query(`INSERT INTO ${fx.orders} (id, "UserRef", item) VALUES ($1, $2, 'lamp')`, [orderOf.get(a), a]);
    const primary = await replayErasures({
      catalog,
      sink: 'primary',
      since: before,
      logger: fx.logger,
    });
    for (const spec of topology.sinkSpecs('primary')) fx.kafka.track(spec.topic);
    expect(primary.acks).toMatchObject({ FAILED: 0 });
    expect(primary.affected).toBeGreaterThanOrEqual(2);
    expect((await fx.db.client.query(`SELECT 1 FROM ${fx.users} WHERE "UserId" = $1`, [a])).rowCount).toBe(0);
    expect((await fx.db.client.query(`SELECT 1 FROM ${fx.orders} WHERE "UserRef" = $1`, [a])).rowCount).toBe(0);

    // The restarted tracker catches up from its store and the topics: the replay acks are recorded.
    await startTracker();
    const replayed = await waitFor(
      async () => {
        const s = (await get(`/api/erasures/${partial.eventId}`)).body as unknown as ErasureStatus;
        const sinks = new Set(s.targets.filter((t) => t.replays > 0).map((t) => t.sink));
        return sinks.has('elasticsearch') && sinks.has('redis') && sinks.has('primary') ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'replay acks of A recorded by the restarted tracker' },
    );
    expect(replayed.status).toBe('complete');
    expect(replayed.targets.find((t) => t.sink === 'elasticsearch')!.lastReplay).toMatchObject({ outcome: 'APPLIED', affected: 1, residual: 0 });
    expect(replayed.targets.find((t) => t.sink === 'primary')).toMatchObject({ kind: 'replay', state: 'applied' });
    expect(((await get(`/api/erasures/${pendingB.eventId}`)).body as unknown as ErasureStatus).status).toBe('complete');
    const replayReport = await (await fetch(`${api}/api/erasures/${partial.eventId}/report?format=md`, { headers: auth })).text();
    expect(replayReport).toContain('## Replays after restores');

    // No log line carries a seeded email address.
    expect(fx.logLines.filter((line) => line.includes('@seeded.example'))).toEqual([]);
  }, 240_000);
});
