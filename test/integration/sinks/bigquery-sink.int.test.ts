import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBigQueryClient } from '../../../connectors/bigquery-client.js';
import { BigQueryConnector } from '../../../connectors/bigquery-connector.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { accountErased, sinkFixture, userErased } from '../../support/sink-fixture.js';

describe('BigQuery sink', () => {
  it('deletes and anonymizes (null, literal, hash) in batched DML, idempotently, sparing the neighbour', async () => {
    const { bigqueryProjectId: projectId, bigqueryApiEndpoint: apiEndpoint } = endpoints();
    const dataset = uniqueName('wh');
    await using fx = await sinkFixture(`  bigquery:
    projectId: ${projectId}
    apiEndpoint: ${apiEndpoint}
    batch: { maxSubjects: 2, maxWaitMs: 0 }
    user:
      - { table: ${dataset}.events, match: user_id, action: delete }
      - { table: ${dataset}.orders, match: user_id, action: { anonymize: { email: null, name: { literal: "Deleted user" }, phone: hash } } }
`);
    const bq = createBigQueryClient({ projectId, apiEndpoint });
    const [ds] = await bq.createDataset(dataset);
    await using _ = { [Symbol.asyncDispose]: async () => void (await ds.delete({ force: true })) };
    const t = (name: string) => `\`${projectId}.${dataset}.${name}\``;
    await bq.query({ query: `CREATE TABLE ${t('events')} (user_id STRING, kind STRING)` });
    // An integer match column: ids are cast on the parameter side.
    await bq.query({ query: `CREATE TABLE ${t('orders')} (user_id INT64, email STRING, name STRING, phone STRING, total INT64)` });
    await bq.query({ query: `INSERT INTO ${t('events')} (user_id, kind) VALUES ('7','a'),('7','b'),('8','c'),('9','d'),('10','e')` });
    await bq.query({
      query: `INSERT INTO ${t('orders')} (user_id, email, name, phone, total) VALUES
        (7,'s@seeded.example','Sev','555-0107',1),(7,'s@seeded.example','Sev',NULL,2),(8,'e@seeded.example','Eig','555-0108',3),(10,'t@seeded.example','Ten','555-0110',4)`,
    });

    const connector = new BigQueryConnector(fx.catalog.sinks.bigquery!);
    // Three subjects with maxSubjects 2: two statements per table.
    const events = ['7', '9', '11'].map((id) => userErased(id));
    // The last: a second part of the first erasure in the same batch; its rows are erased (and
    // credited) once.
    const results = await connector.apply([...events, { ...events[0]!, part: 2, parts: 2 }]);
    expect(results.map((r) => r.map(({ target, affected, residual }) => ({ target, affected, residual })))).toEqual([
      [{ target: `table ${dataset}.events`, affected: 2, residual: 0 }, { target: `table ${dataset}.orders`, affected: 2, residual: 0 }],
      [{ target: `table ${dataset}.events`, affected: 1, residual: 0 }, { target: `table ${dataset}.orders`, affected: 0, residual: 0 }],
      [{ target: `table ${dataset}.events`, affected: 0, residual: 0 }, { target: `table ${dataset}.orders`, affected: 0, residual: 0 }],
      [{ target: `table ${dataset}.events`, affected: 0, residual: 0 }, { target: `table ${dataset}.orders`, affected: 0, residual: 0 }],
    ]);
    expect(results[0]![0]!.details?.retention).toMatch(/time travel/);

    const [orders] = await bq.query({ query: `SELECT user_id, email, name, phone, total FROM ${t('orders')} ORDER BY total` });
    const hashed = createHash('sha256').update('555-0107').digest('hex');
    expect(orders).toEqual([
      { user_id: 7, email: null, name: 'Deleted user', phone: hashed, total: 1 },
      { user_id: 7, email: null, name: 'Deleted user', phone: null, total: 2 },
      { user_id: 8, email: 'e@seeded.example', name: 'Eig', phone: '555-0108', total: 3 },
      { user_id: 10, email: 't@seeded.example', name: 'Ten', phone: '555-0110', total: 4 },
    ]);
    const [left] = await bq.query({ query: `SELECT user_id FROM ${t('events')} ORDER BY user_id` });
    expect(left).toEqual([{ user_id: '10' }, { user_id: '8' }]);

    // Applying again changes nothing: no re-hash of the hash, nothing left to delete.
    const [again] = await connector.apply([events[0]!]);
    expect(again!.map((r) => [r.affected, r.residual])).toEqual([[0, 0], [0, 0]]);
    const [after] = await bq.query({ query: `SELECT phone FROM ${t('orders')} WHERE total = 1` });
    expect(after).toEqual([{ phone: hashed }]);
  });

  it('matches a composite key column by column, and fails only the target whose table or column does not exist', async () => {
    const { bigqueryProjectId: projectId, bigqueryApiEndpoint: apiEndpoint } = endpoints();
    const dataset = uniqueName('whc');
    await using fx = await sinkFixture(`  bigquery:
    projectId: ${projectId}
    apiEndpoint: ${apiEndpoint}
    batch: { maxSubjects: 500, maxWaitMs: 0 }
    account:
      - { table: ${dataset}.missing, match: { tenant: tenant_code, AccountId: account_no }, action: delete }
      - { table: ${dataset}.ledger, match: { tenant: tenant_code, AccountId: acount_no }, action: delete }
      - { table: ${dataset}.ledger, match: { tenant: tenant_code, AccountId: account_no }, action: { anonymize: { holder: null } } }
      - { table: ${dataset}.visits, match: { tenant: tenant_code, AccountId: account_no }, action: delete }
`);
    const bq = createBigQueryClient({ projectId, apiEndpoint });
    const [ds] = await bq.createDataset(dataset);
    await using _ = { [Symbol.asyncDispose]: async () => void (await ds.delete({ force: true })) };
    const t = (name: string) => `\`${projectId}.${dataset}.${name}\``;
    await bq.query({ query: `CREATE TABLE ${t('ledger')} (tenant_code STRING, account_no INT64, holder STRING, n INT64)` });
    await bq.query({ query: `CREATE TABLE ${t('visits')} (tenant_code STRING, account_no INT64, n INT64)` });
    // The subject (acme, 42), and neighbours sharing one of its two key values.
    await bq.query({ query: `INSERT INTO ${t('ledger')} (tenant_code, account_no, holder, n) VALUES ('acme',42,'A',1),('acme',43,'B',2),('globex',42,'C',3)` });
    await bq.query({ query: `INSERT INTO ${t('visits')} (tenant_code, account_no, n) VALUES ('acme',42,1),('acme',42,2),('acme',43,3),('globex',42,4)` });

    const connector = new BigQueryConnector(fx.catalog.sinks.bigquery!);
    const [results, other] = await connector.apply([accountErased('acme', '42'), accountErased('initech', '1')]);
    expect(results![0]).toMatchObject({ target: `table ${dataset}.missing`, affected: 0, failed: expect.stringMatching(/not ?found|missing/i) });
    expect(results![1]).toMatchObject({ target: `table ${dataset}.ledger`, affected: 0, failed: expect.stringContaining('no column acount_no') });
    expect(results![2]).toMatchObject({ target: `table ${dataset}.ledger`, affected: 1, residual: 0 });
    expect(results![3]).toMatchObject({ target: `table ${dataset}.visits`, affected: 2, residual: 0 });
    expect(other![3]).toMatchObject({ affected: 0, residual: 0 });

    const [ledger] = await bq.query({ query: `SELECT holder, n FROM ${t('ledger')} ORDER BY n` });
    expect(ledger).toEqual([{ holder: null, n: 1 }, { holder: 'B', n: 2 }, { holder: 'C', n: 3 }]);
    const [visits] = await bq.query({ query: `SELECT n FROM ${t('visits')} ORDER BY n` });
    expect(visits).toEqual([{ n: 3 }, { n: 4 }]);
  });
});
