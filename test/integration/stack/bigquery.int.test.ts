import { describe, expect, it } from 'vitest';
import { createBigQueryClient } from '../../../connectors/bigquery-client.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';

// Proves the BigQuery emulator runs what the BigQuery sink will send through the official
// client: DDL, streaming inserts, and parameterized DML with an array parameter
// (`IN UNNEST(@ids)`), which turns many subjects into one statement.
describe('BigQuery emulator', () => {
  it('runs DDL, inserts, UPDATE and DELETE with IN UNNEST(@ids), SELECT and COUNT', async () => {
    const { bigqueryProjectId: projectId, bigqueryApiEndpoint: apiEndpoint } = endpoints();
    const bq = createBigQueryClient({ projectId, apiEndpoint });
    const datasetId = uniqueName('ds');
    const [dataset] = await bq.createDataset(datasetId);
    await using _ = { [Symbol.asyncDispose]: async () => void (await dataset.delete({ force: true })) };

    const table = `\`${projectId}.${datasetId}.events\``;
    await bq.query({
      query: `CREATE TABLE ${table} (user_id STRING NOT NULL, email STRING, name STRING, amount INT64)`,
    });
    await dataset.table('events').insert([
      { user_id: 'u-1', email: 'one@example.test', name: 'One', amount: 1 },
      { user_id: 'u-1', email: 'one@example.test', name: 'One', amount: 2 },
      { user_id: 'u-2', email: 'two@example.test', name: 'Two', amount: 3 },
      { user_id: 'u-3', email: 'three@example.test', name: 'Three', amount: 4 },
    ]);

    await bq.query({
      query: `UPDATE ${table} SET email = NULL, name = @replacement WHERE user_id IN UNNEST(@ids)`,
      params: { ids: ['u-1', 'u-9'], replacement: 'Deleted user' },
    });
    const [updated] = await bq.query({
      query: `SELECT user_id, email, name FROM ${table} WHERE user_id = @id ORDER BY amount`,
      params: { id: 'u-1' },
    });
    expect(updated).toEqual([
      { user_id: 'u-1', email: null, name: 'Deleted user' },
      { user_id: 'u-1', email: null, name: 'Deleted user' },
    ]);

    await bq.query({
      query: `DELETE FROM ${table} WHERE user_id IN UNNEST(@ids)`,
      params: { ids: ['u-2', 'u-3'] },
    });
    const [counts] = await bq.query({
      query: `SELECT COUNT(*) AS n, COUNTIF(user_id IN UNNEST(@ids)) AS erased FROM ${table}`,
      params: { ids: ['u-2', 'u-3'] },
    });
    expect(counts).toEqual([{ n: 2, erased: 0 }]);
  });
});
