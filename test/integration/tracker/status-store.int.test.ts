import { describe, expect, it } from 'vitest';
import type { ErasureFacts, ExpectedTarget } from '../../../src/tracker/erasure-status.js';
import { buildReport } from '../../../src/tracker/proof-report.js';
import { StatusStore, type StoredAck } from '../../../src/tracker/status-store.js';
import { endpoints } from '../../support/endpoints.js';
import { appliedOnce } from '../../support/erasure-fixtures.js';
import { uniqueName } from '../../support/names.js';
import { pgContext } from '../../support/pg-context.js';

const T0 = Date.UTC(2026, 10, 22, 8, 0, 0);
const expected: ExpectedTarget[] = [
  { kind: 'sink', sink: 'redis', target: 'key m:{subject}', action: 'delete' },
  { kind: 'manual', sink: 'manual', target: 'crm-vendor', owner: 'crm@corp.example', action: 'delete the contact' },
];
const facts = (eventId: string, subjectId: string): ErasureFacts => ({
  eventId,
  subjectType: 'member',
  subjectId,
  requestId: null,
  operation: 'DELETE',
  sourceTable: '"Crm"."Member"',
  commitLsn: '0/AB',
  commitTime: T0,
  related: [],
});
const ack = (eventId: string, subjectId: string, offset: number, over: Partial<StoredAck> = {}): StoredAck => ({
  source: `acks/0/${offset}`,
  eventId,
  subjectType: 'member',
  subjectId,
  sink: 'redis',
  target: 'key m:{subject}',
  ...appliedOnce(),
  at: T0 + 500,
  ...over,
});

describe('tracker status store against PostgreSQL', () => {
  it('stores redelivered events and acks once, takes acks before their event, confirms once, publishes what changed', async () => {
    await using db = await pgContext();
    const schema = uniqueName('lethe_store');
    await using _drop = { [Symbol.asyncDispose]: async () => void (await db.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
    const store = new StatusStore(endpoints().databaseUrl, schema, () => expected, 3_600_000);
    await using _close = { [Symbol.asyncDispose]: () => store.close() };
    await store.ensureSchema();
    await store.ensureSchema(); // idempotent

    // The ack is read first (another topic, another partition): a placeholder, pending and unknown.
    const early = await store.record([], [ack('e-1', 'tenant%2F7', 10)], T0 + 600);
    expect(early.changed.map((s) => [s.status, s.known])).toEqual([['pending', false]]);
    expect(early.newAcks).toEqual([expect.objectContaining({ commitTime: null })]);

    // Then the event, twice in one batch (a redelivery), with the ack redelivered too.
    const withEvent = await store.record([facts('e-1', 'tenant%2F7'), facts('e-1', 'tenant%2F7')], [ack('e-1', 'tenant%2F7', 10)], T0 + 700);
    expect(withEvent.newAcks).toEqual([]);
    expect(withEvent.changed).toHaveLength(1);
    expect(withEvent.changed[0]).toMatchObject({ status: 'partial', known: true, counts: { targets: 2, done: 1 } });
    expect((await db.client.query(`SELECT count(*)::int AS n FROM ${schema}.acks`)).rows[0].n).toBe(1);

    // The same batch again changes nothing and publishes nothing new.
    expect((await store.record([facts('e-1', 'tenant%2F7')], [ack('e-1', 'tenant%2F7', 10)], T0 + 700)).changed).toEqual([]);

    // Unpublished until marked; a status that changed after it was read stays unpublished.
    const pending = await store.unpublished();
    expect(pending.map((s) => s.eventId)).toEqual(['e-1']);
    const first = await store.confirm({ eventId: 'e-1', system: 'crm-vendor', by: 'ops-a', note: 'done', at: T0 + 800 }, T0 + 900);
    expect(first).toMatchObject({ created: true, status: { status: 'complete' } });
    await store.markPublished(pending); // the older state: must not hide the newer one
    expect((await store.unpublished()).map((s) => s.status)).toEqual(['complete']);
    await store.markPublished(await store.unpublished());
    expect(await store.unpublished()).toEqual([]);

    const again = await store.confirm({ eventId: 'e-1', system: 'crm-vendor', by: 'ops-b', note: '', at: T0 + 950 }, T0 + 960);
    expect(again.created).toBe(false);
    expect(again.status.targets.find((t) => t.kind === 'manual')).toMatchObject({ confirmedBy: 'ops-a' });
    await expect(store.confirm({ eventId: 'e-1', system: 'nope', by: 'x', note: '', at: T0 }, T0)).rejects.toMatchObject({ code: 'NOT_A_MANUAL_SYSTEM' });
    await expect(store.confirm({ eventId: 'e-404', system: 'crm-vendor', by: 'x', note: '', at: T0 }, T0)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // An open erasure turns overdue with time alone, through the SLA sweep.
    await store.record([facts('e-2', 'tenant%2F8')], [], T0 + 1000);
    expect(await store.refoldDue(T0 + 1000)).toEqual([]);
    expect((await store.refoldDue(T0 + 3_600_000)).map((s) => [s.eventId, s.status])).toEqual([['e-2', 'overdue']]);
    expect(await store.refoldDue(T0 + 3_700_000)).toEqual([]);

    // Listing: urgent first, by subject, by status.
    expect((await store.list()).map((s) => s.eventId)).toEqual(['e-2', 'e-1']);
    expect((await store.list({ subjectType: 'member', subjectId: 'tenant%2F7' })).map((s) => s.eventId)).toEqual(['e-1']);
    expect((await store.list({ status: ['complete'] })).map((s) => s.eventId)).toEqual(['e-1']);
    expect(Object.fromEntries(await store.countByStatus())).toEqual({ complete: 1, overdue: 1 });
  });

  it('refolds a complete erasure when a backup expires, so the report never shows a past "until"; an upgraded store refolds its old rows once', async () => {
    await using db = await pgContext();
    const schema = uniqueName('lethe_store');
    await using _drop = { [Symbol.asyncDispose]: async () => void (await db.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
    const DAY = 86_400_000;
    const withBackup: ExpectedTarget[] = [expected[0]!, { kind: 'backup', sink: 'backup', target: 'pg-nightly', retentionMs: 30 * DAY }];
    const store = new StatusStore(endpoints().databaseUrl, schema, () => withBackup, 3_600_000);
    await using _close = { [Symbol.asyncDispose]: () => store.close() };
    await store.ensureSchema();

    const done = await store.record([facts('e-b', '9')], [ack('e-b', '9', 1)], T0 + 1000);
    expect(done.changed[0]).toMatchObject({ status: 'complete' });
    expect(buildReport(done.changed[0]!, T0 + 1000).backups[0]!.done).toBe('not erased: holds the data until 2026-12-22');
    await store.markPublished(done.changed);
    // Complete, not due: nothing to refold until the backup's retention ends.
    expect(await store.refoldDue(T0 + 29 * DAY)).toEqual([]);
    const expired = await store.refoldDue(T0 + 30 * DAY + 1);
    expect(expired.map((s) => [s.eventId, s.status, s.targets.find((t) => t.kind === 'backup')?.state])).toEqual([['e-b', 'complete', 'expired']]);
    expect(buildReport(expired[0]!, T0 + 30 * DAY + 1).backups[0]!.done).toBe('expired on 2026-12-22');
    expect((await store.unpublished()).map((s) => s.eventId)).toEqual(['e-b']);
    expect(await store.refoldDue(T0 + 31 * DAY)).toEqual([]);

    // A store from before refold_at existed: its rows are refolded once after the upgrade.
    await db.client.query(`DROP INDEX ${schema}.erasures_refold`);
    await db.client.query(`ALTER TABLE ${schema}.erasures DROP COLUMN refold_at`);
    await db.client.query(`UPDATE ${schema}.erasures SET state = jsonb_set(state, '{targets,1,state}', '"retained"')`);
    await store.ensureSchema();
    const later = Math.max(T0 + 31 * DAY, Date.now() + 1000); // the upgrade marks rows due now
    expect((await store.refoldDue(later)).map((s) => s.targets.find((t) => t.kind === 'backup')?.state)).toEqual(['expired']);
    expect(await store.refoldDue(later)).toEqual([]);
  });

  it('folds an erasure sent in parts into one, counting a redelivered part once; keeps erasures stored before parts', async () => {
    await using db = await pgContext();
    const schema = uniqueName('lethe_store');
    await using _drop = { [Symbol.asyncDispose]: async () => void (await db.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
    const sinkOnly = expected.filter((t) => t.kind === 'sink');
    const store = new StatusStore(endpoints().databaseUrl, schema, () => sinkOnly, 3_600_000);
    await using _close = { [Symbol.asyncDispose]: () => store.close() };
    await store.ensureSchema();
    const part = (n: number, rows: number): ErasureFacts => ({ ...facts('p-1', 'm%2F1'), part: n, parts: 3, related: [{ table: '"Crm"."Orders"', operation: 'DELETE', rows }] });
    const partAck = (n: number, offset: number, over: Partial<StoredAck> = {}) => ack('p-1', 'm%2F1', offset, { part: n, parts: 3, affected: rows[n - 1]!, at: T0 + 500 + n, ...over });
    const rows = [40_000, 40_000, 20_000];

    // Two parts' facts (one twice) and their acks: not known yet, pending.
    const first = await store.record([part(1, rows[0]!), part(2, rows[1]!), part(1, rows[0]!)], [partAck(1, 100), partAck(2, 101)], T0 + 600);
    expect(first.changed[0]).toMatchObject({ known: false, status: 'pending' });
    expect(first.changed[0]!.targets[0]).toMatchObject({ state: 'pending', parts: { done: 2, total: 3 } });
    // The last part, its ack, and part 2 redelivered in a later batch.
    const last = await store.record([part(3, rows[2]!), part(2, rows[1]!)], [partAck(3, 102), partAck(2, 103, { outcome: 'NOTHING_TO_DO', affected: 0, at: T0 + 900 })], T0 + 1000);
    expect(last.changed).toHaveLength(1);
    expect(last.changed[0]).toMatchObject({
      known: true,
      status: 'complete',
      facts: { parts: 3, related: [{ table: '"Crm"."Orders"', operation: 'DELETE', rows: 100_000 }] },
    });
    expect(last.changed[0]!.targets[0]).toMatchObject({ state: 'applied', affected: 100_000, parts: { done: 3, total: 3 } });
    expect((await db.client.query(`SELECT count(*)::int AS n FROM ${schema}.erasure_parts WHERE event_id = 'p-1'`)).rows[0].n).toBe(3);
    expect((await db.client.query(`SELECT facts->'related'->0->>'rows' AS rows FROM ${schema}.erasures WHERE event_id = 'p-1'`)).rows[0].rows).toBe('100000');

    // An erasure stored before parts existed (its facts on the row, no parts) still folds.
    await db.client.query(
      `INSERT INTO ${schema}.erasures (event_id, subject_type, subject_id, facts, expected, status, commit_time, state) VALUES ('old-1', 'member', 'm%2F2', $1, $2, 'pending', now(), '{}')`,
      [JSON.stringify(facts('old-1', 'm%2F2')), JSON.stringify(sinkOnly)],
    );
    const old = await store.record([], [ack('old-1', 'm%2F2', 200)], T0 + 1000);
    expect(old.changed[0]).toMatchObject({ eventId: 'old-1', known: true, status: 'complete' });
  });

  it('adds confirmed_via to a database made before it, keeping the older confirmations (who: not recorded)', async () => {
    await using db = await pgContext();
    const schema = uniqueName('lethe_mig');
    await using _drop = { [Symbol.asyncDispose]: async () => void (await db.client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)) };
    const store = new StatusStore(endpoints().databaseUrl, schema, () => expected, 3_600_000);
    await using _close = { [Symbol.asyncDispose]: () => store.close() };
    // The tables as they were before the column, with one confirmation recorded then.
    await store.ensureSchema();
    await store.record([facts('e-old', 'm%2F1'), facts('e-new', 'm%2F2')], [], T0 + 100);
    await db.client.query(`ALTER TABLE ${schema}.confirmations DROP COLUMN confirmed_via`);
    await db.client.query(`INSERT INTO ${schema}.confirmations (event_id, system, confirmed_by, note, at) VALUES ('e-old', 'crm-vendor', 'Lee', '', now())`);

    await store.ensureSchema();
    const [old] = await store.refold(['e-old'], T0 + 200);
    expect(old!.targets.find((t) => t.kind === 'manual')).toMatchObject({ state: 'confirmed', confirmedBy: 'Lee', confirmedVia: null });
    const { status } = await store.confirm({ eventId: 'e-new', system: 'crm-vendor', by: 'Alice', via: 'token:ops-alice', note: '', at: T0 + 300 }, T0 + 300);
    expect(status.targets.find((t) => t.kind === 'manual')).toMatchObject({ confirmedBy: 'Alice', confirmedVia: 'token:ops-alice' });
    expect(status.timeline.find((t) => t.what === 'confirmed')).toMatchObject({ by: 'Alice', via: 'token:ops-alice' });
  });
});
