import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLsn } from '../../../src/cdc/lsn.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { waitFor } from '../../support/wait-for.js';

// The CDC reader against the real stack: committed erasures in Postgres become Avro events on
// Kafka, decodable through the registry, and the slot advances only behind Kafka.
describe('CDC reader', () => {
  it('publishes exactly one event for a deleted subject, with its cascaded rows, and logs no personal data', async () => {
    await using fx = await cdcFixture();
    const subject = randomUUID();
    const neighbour = randomUUID();
    const email = `${subject.slice(0, 8)}@seeded.example`;
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, $2), ($3, 'n@seeded.example')`, [subject, email, neighbour]);
    const { rows: orderRows } = await fx.db.client.query<{ id: string }>(
      `INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'a'), ($1, 'b'), ($2, 'c') RETURNING id::text`,
      [subject, neighbour],
    );
    const events = await fx.collect();
    fx.startReader();

    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subject]);
    await fx.slotCaughtUp();
    expect(await fx.publishedCount()).toBe(1);
    await waitFor(() => events.records.length >= 1, { what: 'the erasure event' });
    expect(events.errors).toEqual([]);
    expect(events.records).toHaveLength(1);
    const [record] = events.records;
    expect(record!.key).toBe(`customer:${subject}`);
    expect(record!.value).toMatchObject({
      subjectType: 'customer',
      subjectId: subject,
      subjectKey: [{ column: 'UserId', value: subject }],
      operation: 'DELETE',
      sourceTable: `"${fx.schema}"."Users"`,
      requestId: null,
    });
    expect(record!.value.related.map((r) => r.key)).toEqual([
      [{ column: 'id', value: orderRows[0]!.id }],
      [{ column: 'id', value: orderRows[1]!.id }],
    ]);
    expect(record!.value.related.every((r) => r.table === `"${fx.schema}"."Orders"` && r.operation === 'DELETE')).toBe(true);
    expect(fx.logLines.some((line) => line.includes('@seeded.example'))).toBe(false);
    expect(fx.logLines.some((line) => line.includes('cdc reader streaming'))).toBe(true);
  });

  it('publishes a delete from a partitioned root table under the root, once, with the publication init creates', async () => {
    await using fx = await cdcFixture({ partitioned: true });
    const { rows: publication } = await fx.db.client.query<{ pubviaroot: boolean }>('SELECT pubviaroot FROM pg_publication WHERE pubname = $1', [fx.catalog.source.publication]);
    expect(publication).toEqual([{ pubviaroot: true }]);
    // Subjects in both partitions: random keys hash anywhere, so add them until both hold some.
    const subjects: string[] = [];
    const partitionCount = async () => (await fx.db.client.query(`SELECT DISTINCT tableoid FROM ${fx.users}`)).rowCount;
    while (subjects.length < 4 || ((await partitionCount()) ?? 0) < 2) {
      if (subjects.length > 64) throw new Error('random keys kept landing in one partition');
      subjects.push(randomUUID());
      await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'p@seeded.example')`, [subjects.at(-1)]);
    }
    const { rows: orderRows } = await fx.db.client.query<{ id: string }>(`INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'a') RETURNING id::text`, [subjects[0]]);
    const events = await fx.collect();
    fx.startReader();

    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subjects[0]]);
    await fx.slotCaughtUp();
    expect(await fx.publishedCount()).toBe(1);
    await waitFor(() => events.records.length >= 1, { what: 'the erasure event' });
    expect(events.values).toHaveLength(1);
    expect(events.values[0]).toMatchObject({
      subjectId: subjects[0],
      operation: 'DELETE',
      sourceTable: `"${fx.schema}"."Users"`,
      related: [{ table: `"${fx.schema}"."Orders"`, key: [{ column: 'id', value: orderRows[0]!.id }], operation: 'DELETE' }],
    });
  });

  it('publishes ANONYMIZE when the marker column is set, with the request id of the transaction', async () => {
    await using fx = await cdcFixture();
    const subject = randomUUID();
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'x@seeded.example')`, [subject]);
    const events = await fx.collect();
    fx.startReader();

    await fx.db.client.query('BEGIN');
    await fx.db.client.query(`SELECT pg_logical_emit_message(true, 'lethe', '{"requestId":"req-123"}')`);
    await fx.db.client.query(`UPDATE ${fx.users} SET email = 'erased', "ErasedAt" = now() WHERE "UserId" = $1`, [subject]);
    await fx.db.client.query('COMMIT');

    await waitFor(() => events.records.length >= 1, { what: 'the anonymize event' });
    expect(events.values[0]).toMatchObject({ subjectId: subject, operation: 'ANONYMIZE', requestId: 'req-123' });
  });

  it('publishes nothing for changes outside the catalog, ordinary updates or a rolled-back delete', async () => {
    await using fx = await cdcFixture({ heartbeatIntervalMs: 200 });
    const subject = randomUUID();
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'y@seeded.example')`, [subject]);
    const events = await fx.collect();
    fx.startReader();
    const before = parseLsn(await fx.confirmedFlushLsn());

    await fx.db.client.query(`INSERT INTO ${fx.audit} (note) SELECT 'n' || g FROM generate_series(1, 100) g`);
    await fx.db.client.query(`DELETE FROM ${fx.audit}`);
    await fx.db.client.query(`UPDATE ${fx.users} SET email = 'changed' WHERE "UserId" = $1`, [subject]);
    await fx.db.client.query('BEGIN');
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subject]);
    await fx.db.client.query('ROLLBACK');
    // Once the slot has passed everything above, every event it could cause has been published.
    await fx.slotCaughtUp();
    expect(parseLsn(await fx.confirmedFlushLsn())).toBeGreaterThan(before);
    expect(await fx.publishedCount()).toBe(0);
    expect(events.records).toEqual([]);
  });

  it('keeps advancing the slot while the database is idle', async () => {
    await using fx = await cdcFixture({ heartbeatIntervalMs: 200 });
    fx.startReader();
    const first = await waitFor(async () => {
      const lsn = parseLsn(await fx.confirmedFlushLsn());
      return lsn > 0n ? lsn : undefined;
    });
    const later = await waitFor(async () => {
      const lsn = parseLsn(await fx.confirmedFlushLsn());
      return lsn > first ? lsn : undefined;
    }, { what: 'confirmed_flush_lsn to move with no activity but heartbeats' });
    expect(later).toBeGreaterThan(first);
  });

  it('turns 10,000 single-subject deletes in a burst into 10,000 distinct events', async () => {
    await using fx = await cdcFixture();
    const total = 10_000;
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) SELECT gen_random_uuid(), 'b' || g || '@seeded.example' FROM generate_series(1, $1) g`, [total]);
    const { rows } = await fx.db.client.query<{ id: string }>(`SELECT "UserId"::text AS id FROM ${fx.users}`);
    const events = await fx.collect();
    fx.startReader();

    // One transaction per subject, from four connections at once.
    const workers = 4;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const { pgContext } = await import('../../support/pg-context.js');
        await using conn = await pgContext();
        for (let i = w; i < rows.length; i += workers) {
          await conn.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [rows[i]!.id]);
        }
      }),
    );
    await waitFor(() => new Set(events.values.map((v) => v.subjectId)).size >= total, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: `${total} distinct subject events`,
    });
    await fx.slotCaughtUp();
    expect(await fx.publishedCount()).toBe(total);
    const ids = new Set(events.values.map((v) => v.subjectId));
    expect(ids).toEqual(new Set(rows.map((r) => r.id)));
    expect(new Set(events.values.map((v) => v.eventId)).size).toBe(total);
  });

  it('folds one transaction deleting 3,000 subjects and their 6,000 cascaded orders through spill files: every subject once, with its own orders, the slot past it, no file left', async () => {
    await using fx = await cdcFixture();
    const total = 3_000;
    const spillDirectory = mkdtempSync(join(tmpdir(), 'lethe-spill-test-'));
    try {
      await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) SELECT gen_random_uuid(), 'p' || g || '@seeded.example' FROM generate_series(1, $1) g`, [total]);
      await fx.db.client.query(`INSERT INTO ${fx.orders} ("UserRef", item) SELECT "UserId", item FROM ${fx.users}, (VALUES ('a'), ('b')) AS items(item)`);
      const { rows } = await fx.db.client.query<{ user: string; order: string }>(`SELECT "UserRef"::text AS user, id::text AS order FROM ${fx.orders}`);
      const ordersOf = new Map<string, string[]>();
      for (const r of rows) ordersOf.set(r.user, [...(ordersOf.get(r.user) ?? []), r.order].sort());
      const events = await fx.collect();
      // A purge: one statement, one transaction, far past what the reader keeps in memory.
      await fx.db.client.query(`DELETE FROM ${fx.users}`);
      fx.startReader({ spillAfter: 1_000, spillDirectory });

      await waitFor(() => new Set(events.values.map((v) => v.subjectId)).size >= total, { timeoutMs: 120_000, intervalMs: 250, what: `${total} distinct subject events` });
      await fx.slotCaughtUp();
      expect(await fx.publishedCount()).toBe(total);
      expect(new Set(events.values.map((v) => v.subjectId))).toEqual(new Set(ordersOf.keys()));
      for (const event of events.values) {
        expect(event.related.map((r) => r.key[0]!.value).sort()).toEqual(ordersOf.get(event.subjectId));
      }
      expect(new Set(events.values.map((v) => v.commitLsn)).size).toBe(1);
      expect(fx.logLines.some((l) => l.includes('"spilled":true'))).toBe(true);
      expect(readdirSync(spillDirectory)).toEqual([]);
    } finally {
      rmSync(spillDirectory, { recursive: true, force: true });
    }
  });
});
