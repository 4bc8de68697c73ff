import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { PrimaryExecutor } from '../../../src/requests/primary-executor.js';
import { cdcFixture } from '../../support/cdc-fixture.js';
import { endpoints } from '../../support/endpoints.js';
import { waitFor } from '../../support/wait-for.js';

// A request executed in the primary, read by the real CDC reader: the event names the request and
// the subject even though the root row itself is kept, with the related rows the request deleted.
describe('a request through the CDC reader', () => {
  it('publishes one event for the subject the request names, with its request id and the deleted rows, and nothing for the neighbour', async () => {
    await using fx = await cdcFixture();
    const subject = randomUUID();
    const neighbour = randomUUID();
    await fx.db.client.query(`INSERT INTO ${fx.users} ("UserId", email) VALUES ($1, 'r@seeded.example'), ($2, 'n@seeded.example')`, [subject, neighbour]);
    const { rows: orderRows } = await fx.db.client.query<{ id: string }>(`INSERT INTO ${fx.orders} ("UserRef", item) VALUES ($1, 'a'), ($1, 'b'), ($2, 'c') RETURNING id::text`, [subject, neighbour]);
    // The fixture's catalog, with handlers: the root kept (say, under a retention rule), its orders deleted.
    const catalog = parseCatalog(
      fx.yaml.replace(
        '    related:\n',
        `    onRequest:\n      - { table: '"${fx.schema}"."Users"', action: { keep: "account kept for fraud review" } }\n      - { table: '"${fx.schema}"."Orders"', subjectColumn: '"UserRef"', action: delete }\n    related:\n`,
      ),
      {},
    );
    const events = await fx.collect();
    fx.startReader();
    const pool = new pg.Pool({ connectionString: endpoints().databaseUrl, max: 1 });
    try {
      const result = await new PrimaryExecutor({ catalog, pool }).execute({ requestId: 'req_cdc1', subject: { type: 'customer', key: { UserId: subject } }, heldTables: [] });
      expect(result.tables.map((t) => [t.table.name, t.action, t.rows, t.keptReason])).toEqual([
        ['Orders', 'delete', 2, undefined],
        ['Users', 'keep', 1, 'account kept for fraud review'],
      ]);
    } finally {
      await pool.end();
    }

    await fx.slotCaughtUp();
    await waitFor(() => events.records.length >= 1, { what: 'the request\'s erasure event' });
    expect(await fx.publishedCount()).toBe(1);
    const [record] = events.records;
    expect(record!.key).toBe(`customer:${subject}`);
    expect(record!.value).toMatchObject({ subjectType: 'customer', subjectId: subject, subjectKey: [{ column: 'UserId', value: subject }], operation: 'ANONYMIZE', requestId: 'req_cdc1' });
    expect(record!.value.related.map((r) => [r.table, r.key, r.operation])).toEqual(
      orderRows.slice(0, 2).map((o) => [`"${fx.schema}"."Orders"`, [{ column: 'id', value: o.id }], 'DELETE']),
    );
    expect(fx.logLines.some((line) => line.includes('@seeded.example'))).toBe(false);
  });
});
