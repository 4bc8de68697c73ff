import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BigQuery } from '@google-cloud/bigquery';
import { createBigQueryClient } from '../../../connectors/bigquery-client.js';
import { BigQueryConnector } from '../../../connectors/bigquery-connector.js';
import { parseCatalog } from '../../../src/catalog/catalog.js';
import { endpoints } from '../../support/endpoints.js';
import { uniqueName } from '../../support/names.js';
import { accountErased, userErased } from '../../support/sink-fixture.js';

/** A dataset of its own, dropped after the test, and a connector for the targets given as YAML. */
async function warehouse(targets: string, env: Record<string, string> = {}, extra = '') {
  const { bigqueryProjectId: projectId, bigqueryApiEndpoint: apiEndpoint } = endpoints();
  const dataset = uniqueName('wx');
  const bq = createBigQueryClient({ projectId, apiEndpoint });
  const [ds] = await bq.createDataset(dataset);
  const yaml = `source: { url: x }
kafka: { brokers: b:1, schemaRegistry: "http://r" }
subjects:
  user: { table: users, key: id }
  account: { table: accounts, key: [tenant, '"AccountId"'] }
${extra}sinks:
  bigquery:
    projectId: ${projectId}
    apiEndpoint: ${apiEndpoint}
    batch: { maxSubjects: 500, maxWaitMs: 0 }
${targets.replaceAll('DS', dataset)}`;
  const catalog = parseCatalog(yaml, {});
  const t = (name: string) => `\`${projectId}.${dataset}.${name}\``;
  return {
    bq,
    t,
    dataset,
    connector: () => new BigQueryConnector(catalog.sinks.bigquery!, env),
    rows: async (sql: string) => (await bq.query({ query: sql }))[0] as Array<Record<string, unknown>>,
    [Symbol.asyncDispose]: async () => void (await ds.delete({ force: true })),
  };
}
const brief = (results: ReadonlyArray<ReadonlyArray<{ affected: number; residual: number; failed?: string }>>) =>
  results.map((r) => r.map(({ affected, residual, failed }) => (failed ? `failed: ${failed}` : `${affected}/${residual}`)));

describe('BigQuery exact matching', () => {
  it('INT64: a key that is not the canonical decimal (01, +1) fails its target naming table and column, and erases nothing; 1 erases only 1', async () => {
    await using w = await warehouse(`    user:
      - { table: DS.events, match: user_id, action: delete }
      - { table: DS.orders, match: user_id, action: { anonymize: { email: null } } }
`);
    await w.bq.query({ query: `CREATE TABLE ${w.t('events')} (user_id INT64, n INT64)` });
    await w.bq.query({ query: `CREATE TABLE ${w.t('orders')} (user_id INT64, email STRING, n INT64)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('events')} (user_id, n) VALUES (1, 1), (1, 2), (10, 3)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('orders')} (user_id, email, n) VALUES (1, 'one@seeded.example', 1), (10, 'ten@seeded.example', 2)` });
    const connector = w.connector();

    // Alone first: on main, '01' was cast to 1 and erased subject 1's rows, and its count (grouped
    // by CAST(user_id AS STRING) = '1') reported nothing to do.
    const refused = await connector.apply([userErased('01'), userErased('+1')]);
    expect(brief(refused)).toEqual([
      [`failed: table ${w.dataset}.events column user_id: the subject's key is not a canonical INT64 (decimal digits without leading zeros or "+", within the 64-bit range); it is not matched`, expect.stringMatching(/^failed: table .*\.orders column user_id: the subject.s key is not a canonical INT64/)],
      [expect.stringMatching(/^failed: table .*\.events column user_id: the subject.s key is not a canonical INT64/), expect.stringMatching(/^failed: table .*\.orders column user_id: the subject.s key is not a canonical INT64/)],
    ]);
    expect(await w.rows(`SELECT n FROM ${w.t('events')} ORDER BY n`)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(await w.rows(`SELECT email FROM ${w.t('orders')} ORDER BY n`)).toEqual([{ email: 'one@seeded.example' }, { email: 'ten@seeded.example' }]);

    const results = await connector.apply([userErased('01'), userErased('1'), userErased('+1')]);
    expect(brief(results)).toEqual([
      [expect.stringMatching(/^failed: .*the subject.s key is not a canonical INT64/), expect.stringMatching(/^failed: .*the subject.s key is not a canonical INT64/)],
      ['2/0', '1/0'],
      [expect.stringMatching(/^failed: .*the subject.s key is not a canonical INT64/), expect.stringMatching(/^failed: .*the subject.s key is not a canonical INT64/)],
    ]);
    expect(await w.rows(`SELECT user_id, n FROM ${w.t('events')} ORDER BY n`)).toEqual([{ user_id: 10, n: 3 }]);
    expect(await w.rows(`SELECT user_id, email FROM ${w.t('orders')} ORDER BY n`)).toEqual([{ user_id: 1, email: null }, { user_id: 10, email: 'ten@seeded.example' }]);
  });

  it('STRING: equality is exact, so neighbours differing by case or a trailing space stay', async () => {
    await using w = await warehouse(`    user:
      - { table: DS.events, match: user_id, action: delete }
`);
    await w.bq.query({ query: `CREATE TABLE ${w.t('events')} (user_id STRING, n INT64)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('events')} (user_id, n) VALUES ('bob', 1), ('Bob', 2), ('bob ', 3), ('BOB', 4), ('ada@seeded.example', 5), ('Ada@seeded.example', 6)` });
    const results = await w.connector().apply([userErased('bob'), userErased('ada@seeded.example'), userErased('bo')]);
    expect(brief(results)).toEqual([['1/0'], ['1/0'], ['0/0']]);
    expect(await w.rows(`SELECT user_id FROM ${w.t('events')} ORDER BY n`)).toEqual([{ user_id: 'Bob' }, { user_id: 'bob ' }, { user_id: 'BOB' }, { user_id: 'Ada@seeded.example' }]);
  });

  it('composite: each column compared in its own type, so values holding U+001F cannot conflate and a non-canonical part is refused', async () => {
    await using w = await warehouse(`    account:
      - { table: DS.ledger, match: { tenant: tenant_code, AccountId: account_no }, action: delete }
      - { table: DS.notes, match: { tenant: tenant_code, AccountId: note_key }, action: delete }
`);
    await w.bq.query({ query: `CREATE TABLE ${w.t('ledger')} (tenant_code STRING, account_no INT64, n INT64)` });
    await w.bq.query({ query: `CREATE TABLE ${w.t('notes')} (tenant_code STRING, note_key STRING, n INT64)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('ledger')} (tenant_code, account_no, n) VALUES ('acme', 42, 1), ('acme', 43, 2), ('Acme', 42, 3), ('globex', 42, 4)` });
    // ('a\u001fb', 'c') and ('a', 'b\u001fc') joined with U+001F would be the same text.
    await w.bq.query({ query: `INSERT INTO ${w.t('notes')} (tenant_code, note_key, n) VALUES ('a\\x1fb', 'c', 1), ('a', 'b\\x1fc', 2)` });
    const results = await w.connector().apply([accountErased('acme', '42'), accountErased('a\u001fb', 'c'), accountErased('acme', '043')]);
    expect(brief(results)).toEqual([
      ['1/0', '0/0'],
      [expect.stringMatching(/^failed: table .*\.ledger column account_no: the subject's key is not a canonical INT64/), '1/0'],
      [expect.stringMatching(/^failed: table .*\.ledger column account_no: the subject.s key is not a canonical INT64/), '0/0'],
    ]);
    expect(await w.rows(`SELECT n FROM ${w.t('ledger')} ORDER BY n`)).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
    expect(await w.rows(`SELECT note_key FROM ${w.t('notes')} ORDER BY n`)).toEqual([{ note_key: 'b\u001fc' }]);
  });

  it('DATE, TIMESTAMP, BYTES, NUMERIC and BOOL: the canonical text matches its value, any other text of the same value is refused', async () => {
    const types = { d: 'DATE', ts: 'TIMESTAMP', by: 'BYTES', nu: 'NUMERIC', bo: 'BOOL' };
    await using w = await warehouse(`    user:\n${Object.keys(types).map((c) => `      - { table: DS.t_${c}, match: k, action: delete }`).join('\n')}\n`);
    for (const [c, type] of Object.entries(types)) await w.bq.query({ query: `CREATE TABLE ${w.t(`t_${c}`)} (k ${type}, n INT64)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('t_d')} (k, n) VALUES (DATE '2024-01-02', 1), (DATE '2024-01-20', 2)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('t_ts')} (k, n) VALUES (TIMESTAMP '2024-01-02 03:04:05.12+00', 1), (TIMESTAMP '2024-01-02 03:04:05+00', 2)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('t_by')} (k, n) VALUES (b'\\x01\\xab', 1), (b'\\x01', 2)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('t_nu')} (k, n) VALUES (NUMERIC '1.5', 1), (NUMERIC '15', 2)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('t_bo')} (k, n) VALUES (TRUE, 1), (FALSE, 2)` });
    const keys = ['2024-01-02', '2024-01-02 03:04:05.12+00', '\\x01ab', '1.5', 'true'];
    const connector = w.connector();
    // Each key is canonical for one table (its column's type) and refused by the others.
    const results = await connector.apply(keys.map((k) => userErased(k)));
    expect(results.map((r) => r.map((t) => (t.failed ? 'refused' : `${t.affected}/${t.residual}`)))).toEqual(
      keys.map((_, i) => keys.map((__, j) => (i === j ? '1/0' : 'refused'))),
    );
    for (const c of Object.keys(types)) expect(await w.rows(`SELECT n FROM ${w.t(`t_${c}`)}`), c).toEqual([{ n: 2 }]);
    // Other texts of erased or remaining values: refused, never coerced.
    const others = await connector.apply(['2024-1-20', '2024-01-02T03:04:05Z', '\\x01AB', '15.0', 'FALSE'].map((k) => userErased(k)));
    expect(others.flat().every((t) => t.failed !== undefined && t.affected === 0)).toBe(true);
    for (const c of Object.keys(types)) expect(await w.rows(`SELECT n FROM ${w.t(`t_${c}`)}`), c).toEqual([{ n: 2 }]);
  });

  it('refuses a match column that cannot be compared exactly, naming table and column', async () => {
    await using w = await warehouse(`    user:
      - { table: DS.scores, match: user_id, action: delete }
`);
    await w.bq.query({ query: `CREATE TABLE ${w.t('scores')} (user_id FLOAT64, n INT64)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('scores')} (user_id, n) VALUES (1, 1)` });
    const [results] = await w.connector().apply([userErased('1')]);
    expect(results![0]!.failed).toMatch(new RegExp(`^table ${w.dataset}\\.scores column user_id: type FLOAT64 cannot be matched exactly`));
    expect(await w.rows(`SELECT n FROM ${w.t('scores')}`)).toEqual([{ n: 1 }]);
  });
});

describe('BigQuery pseudonymization', () => {
  const key = randomBytes(32).toString('hex');

  it('hmac: a pseudonym naming its key, stable when applied twice, with literals and nulls beside it; the secret and old values appear in no result', async () => {
    await using w = await warehouse(
      `    user:
      - { table: DS.orders, match: user_id, action: { anonymize: { email: null, name: { literal: "Deleted user" }, phone: hmac } } }
`,
      { LETHE_HMAC_KEY_K2026: key },
      'pseudonymization: { hmacKey: k2026 }\n',
    );
    await w.bq.query({ query: `CREATE TABLE ${w.t('orders')} (user_id INT64, email STRING, name STRING, phone STRING, n INT64)` });
    await w.bq.query({
      query: `INSERT INTO ${w.t('orders')} (user_id, email, name, phone, n) VALUES
        (7, 's@seeded.example', 'Sev', '555-0107', 1), (7, 's@seeded.example', 'Sev', '555-0107', 2), (7, NULL, 'Sev', '555-0177', 3), (7, NULL, NULL, NULL, 4), (8, 'e@seeded.example', 'Eig', '555-0107', 5)`,
    });
    const connector = w.connector();
    const first = await connector.apply([userErased('7')]);
    expect(brief(first)).toEqual([['4/0']]);
    const after = await w.rows(`SELECT email, name, phone FROM ${w.t('orders')} ORDER BY n`);
    const { createHmac } = await import('node:crypto');
    const pseudonym = (v: string) => `hmac:k2026:${createHmac('sha256', Buffer.from(key)).update(v).digest('hex')}`;
    expect(after).toEqual([
      { email: null, name: 'Deleted user', phone: pseudonym('555-0107') },
      { email: null, name: 'Deleted user', phone: pseudonym('555-0107') },
      { email: null, name: 'Deleted user', phone: pseudonym('555-0177') },
      { email: null, name: 'Deleted user', phone: null },
      { email: 'e@seeded.example', name: 'Eig', phone: '555-0107' },
    ]);
    const text = JSON.stringify(first);
    for (const secret of [key, '555-0107', 's@seeded.example']) expect(text).not.toContain(secret);

    // Again, and after a row of the subject got its email back: the pseudonyms are not hmac'd again.
    await w.bq.query({ query: `UPDATE ${w.t('orders')} SET email = 'back@seeded.example' WHERE n = 1` });
    expect(brief(await connector.apply([userErased('7')]))).toEqual([['1/0']]);
    expect(brief(await connector.apply([userErased('7')]))).toEqual([['0/0']]);
    expect(await w.rows(`SELECT email, phone FROM ${w.t('orders')} WHERE n <= 3 ORDER BY n`)).toEqual([
      { email: null, phone: pseudonym('555-0107') },
      { email: null, phone: pseudonym('555-0107') },
      { email: null, phone: pseudonym('555-0177') },
    ]);
  });

  it('hash is not applied twice either, when the row is matched again for another column', async () => {
    await using w = await warehouse(`    user:
      - { table: DS.orders, match: user_id, action: { anonymize: { email: null, phone: hash } } }
`);
    await w.bq.query({ query: `CREATE TABLE ${w.t('orders')} (user_id INT64, email STRING, phone STRING)` });
    await w.bq.query({ query: `INSERT INTO ${w.t('orders')} (user_id, email, phone) VALUES (7, 's@seeded.example', '555-0107')` });
    const connector = w.connector();
    expect(brief(await connector.apply([userErased('7')]))).toEqual([['1/0']]);
    await w.bq.query({ query: `UPDATE ${w.t('orders')} SET email = 'back@seeded.example' WHERE TRUE` });
    expect(brief(await connector.apply([userErased('7')]))).toEqual([['1/0']]);
    const { createHash } = await import('node:crypto');
    expect(await w.rows(`SELECT email, phone FROM ${w.t('orders')}`)).toEqual([{ email: null, phone: createHash('sha256').update('555-0107').digest('hex') }]);
  });

  it('refuses to start when a target uses hmac and its key is not in the environment, naming the variable', async () => {
    await using w = await warehouse(
      `    user:
      - { table: DS.orders, match: user_id, action: { anonymize: { phone: hmac } } }
`,
      {},
      'pseudonymization: { hmacKey: k2026 }\n',
    );
    expect(() => w.connector()).toThrow('hmac key k2026 is not set: set LETHE_HMAC_KEY_K2026 (or LETHE_HMAC_KEY_K2026_FILE naming a file holding it)');
  });
});
