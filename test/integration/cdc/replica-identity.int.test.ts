import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CdcReader } from '../../../src/cdc/cdc-reader.js';
import { parseLsn } from '../../../src/cdc/lsn.js';
import { cdcFixture, type CdcFixture } from '../../support/cdc-fixture.js';
import { capturingLogger } from '../../support/log-capture.js';
import { waitFor } from '../../support/wait-for.js';

/** A reader of the fixture's catalog whose end the test observes (it is expected to fail). */
function reader(fx: CdcFixture) {
  const { logger, lines } = capturingLogger();
  const controller = new AbortController();
  let ended: { error: unknown } | undefined;
  const running = new CdcReader({ catalog: fx.catalog, logger, restartDelayMs: { initial: 50, max: 200 } })
    .run(controller.signal)
    .then(() => undefined, (error: unknown) => error)
    .then((error) => void (ended = { error }));
  return {
    lines,
    /** Resolves with what run() rejected with, or fails after a deadline if it keeps running. */
    failure: async () => (await waitFor(() => ended, { what: 'the reader to stop on an error' })).error,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await running;
    },
  };
}

const records = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

// A replica identity that does not carry the columns naming a subject would make a delete's
// erasure unreadable. The reader refuses such a table at start, and fails (never skips) a
// transaction that arrives without them anyway: the slot keeps it.
describe('CDC reader and replica identity', () => {
  it('refuses to start on a related table whose replica identity does not carry the subject column', async () => {
    await using fx = await cdcFixture();
    await fx.db.client.query(`ALTER TABLE ${fx.orders} REPLICA IDENTITY DEFAULT`);
    await using r = reader(fx);
    const error = await r.failure();
    expect(error).toMatchObject({ code: 'CATALOG_INVALID' });
    const message = (error as Error).message;
    expect(message).toContain(`subjects.customer.related[0].subjectColumn: "${fx.schema}"."Orders": replica identity (DEFAULT (primary key)) does not carry "UserRef"`);
    expect(message).toContain(`fix: ALTER TABLE "${fx.schema}"."Orders" REPLICA IDENTITY FULL;`);
    expect(r.lines.some((l) => l.includes('cdc reader streaming'))).toBe(false);
  });

  it('refuses to start when the publication does not send a catalogued table', async () => {
    await using fx = await cdcFixture();
    const publication = fx.catalog.source.publication;
    await fx.db.client.query(`ALTER PUBLICATION "${publication}" DROP TABLE ${fx.orders}`);
    await using r = reader(fx);
    const error = await r.failure();
    expect(error).toMatchObject({ code: 'CATALOG_INVALID' });
    const message = (error as Error).message;
    expect(message).toContain(`source.publication: publication ${publication} does not cover "${fx.schema}"."Orders"`);
    expect(message).toContain('ADD TABLE');
    expect(r.lines.some((l) => l.includes('cdc reader streaming'))).toBe(false);
  });

  it('fails the session, loudly and without row contents, on a delete that arrives without the subject column, and keeps it in the slot', async () => {
    await using fx = await cdcFixture();
    const subject = randomUUID();
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'ri@seeded.example')`, [subject]);
    await fx.db.client.query(`INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'secret-item')`, [subject]);
    await using first = reader(fx);
    await waitFor(() => first.lines.some((l) => l.includes('cdc reader streaming')), { what: 'the reader to stream' });

    // The identity changes while the reader streams: the cascaded orders delete carries only "id".
    await fx.db.client.query(`ALTER TABLE ${fx.orders} REPLICA IDENTITY DEFAULT`);
    const { rows: before } = await fx.db.client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    await fx.db.client.query('BEGIN');
    await fx.db.client.query(`DELETE FROM ${fx.users} WHERE "UserId" = $1`, [subject]);
    const { rows: xact } = await fx.db.client.query<{ xid: string }>('SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text AS xid');
    await fx.db.client.query('COMMIT');

    // The session fails on it; the restart then refuses the table, whose identity is still short.
    const report = await waitFor(() => records(first.lines).find((l) => l.code === 'ERASURE_NOT_READABLE'), { what: 'the unreadable erasure to be reported' });
    expect(await first.failure()).toMatchObject({ code: 'CATALOG_INVALID' });
    expect(report).toMatchObject({ level: 50, table: `"${fx.schema}"."Orders"`, subjectType: 'customer', columns: ['UserRef'], xid: Number(xact[0]!.xid) });
    const commitLsn = parseLsn(report.commitLsn as string);
    expect(commitLsn).toBeGreaterThan(parseLsn(before[0]!.lsn));
    expect(first.lines.some((l) => l.includes('cdc session failed; restarting from the slot'))).toBe(true);
    // Nothing published, and the slot was not confirmed past the erasure.
    expect(await fx.publishedCount()).toBe(0);
    expect(parseLsn(await fx.confirmedFlushLsn())).toBeLessThan(commitLsn);

    // With the identity restored, a new reader starts and meets the same transaction again.
    await fx.db.client.query(`ALTER TABLE ${fx.orders} REPLICA IDENTITY FULL`);
    await using second = reader(fx);
    const again = await waitFor(() => records(second.lines).find((l) => l.code === 'ERASURE_NOT_READABLE'), { what: 'the same transaction to fail again' });
    expect(again).toMatchObject({ xid: report.xid, commitLsn: report.commitLsn, table: report.table });
    expect(parseLsn(await fx.confirmedFlushLsn())).toBeLessThan(commitLsn);
    expect(await fx.publishedCount()).toBe(0);

    for (const line of [...first.lines, ...second.lines]) {
      expect(line).not.toContain('seeded.example');
      expect(line).not.toContain('secret-item');
    }
  });
});
