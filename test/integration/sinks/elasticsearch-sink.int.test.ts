import { describe, expect, it } from 'vitest';
import { ElasticsearchConnector } from '../../../connectors/elasticsearch-connector.js';
import { endpoints } from '../../support/endpoints.js';
import { indicesOf } from '../../support/es-indices.js';
import { uniqueName } from '../../support/names.js';
import { accountErased, sinkFixture, userErased } from '../../support/sink-fixture.js';

describe('Elasticsearch sink', () => {
  it('deletes through a wildcard pattern, anonymizes through an alias, pages past 1000, spares the neighbour', async () => {
    const p = uniqueName('les').replaceAll('_', '-');
    await using fx = await sinkFixture(`  elasticsearch:
    node: ${endpoints().elasticsearchUrl}
    user:
      - { index: "${p}-users-*", match: user_id, action: delete }
      - { index: "${p}-messages", match: sender_id, action: { anonymize: [sender_name, sender_email] } }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    for (const index of [`${p}-users-2025`, `${p}-users-2026`, `${p}-messages-v1`]) {
      await es.indices.create({
        index,
        settings: { number_of_replicas: 0 },
        mappings: { properties: { user_id: { type: 'keyword' }, sender_id: { type: 'keyword' }, sender_name: { type: 'keyword' }, sender_email: { type: 'keyword' } } },
      });
    }
    await es.indices.putAlias({ index: `${p}-messages-v1`, name: `${p}-messages` });
    const subject = 'ada@seeded.example'; // a text key with characters an encoding would change
    const neighbour = 'bob@seeded.example';
    const docs = [
      ...Array.from({ length: 1200 }, (_, i) => ({ _index: `${p}-users-${i % 2 ? 2025 : 2026}`, user_id: subject, n: i })),
      ...Array.from({ length: 30 }, (_, i) => ({ _index: `${p}-users-2026`, user_id: neighbour, n: i })),
      ...Array.from({ length: 5 }, () => ({ _index: `${p}-messages-v1`, sender_id: subject, sender_name: 'Ada', sender_email: subject, body: 'kept' })),
      { _index: `${p}-messages-v1`, sender_id: neighbour, sender_name: 'Bob', sender_email: neighbour, body: 'kept' },
    ];
    const seeded = await es.bulk({ refresh: true, operations: docs.flatMap(({ _index, ...doc }) => [{ index: { _index } }, doc]) });
    expect(seeded.errors).toBe(false);

    const connector = new ElasticsearchConnector(fx.catalog.sinks.elasticsearch!);
    const event = userErased(subject);
    // Two parts of one erasure in one batch: the documents are erased once, credited to the first.
    const [results, secondPart] = await connector.apply([{ ...event, parts: 2 }, { ...event, part: 2, parts: 2 }, userErased('nobody@seeded.example')]);
    expect(results).toEqual([
      { target: `index ${p}-users-*`, affected: 1200, residual: 0 },
      { target: `index ${p}-messages`, affected: 5, residual: 0 },
    ]);
    expect(secondPart).toEqual([
      { target: `index ${p}-users-*`, affected: 0, residual: 0 },
      { target: `index ${p}-messages`, affected: 0, residual: 0 },
    ]);
    const [again] = await connector.apply([event]);
    expect(again).toEqual([
      { target: `index ${p}-users-*`, affected: 0, residual: 0 },
      { target: `index ${p}-messages`, affected: 0, residual: 0 },
    ]);

    expect((await es.count({ index: `${p}-users-*`, query: { term: { user_id: subject } } })).count).toBe(0);
    expect((await es.count({ index: `${p}-users-*`, query: { term: { user_id: neighbour } } })).count).toBe(30);
    const messages = await es.search<{ sender_id: string; sender_name: string | null; sender_email: string | null; body: string }>({ index: `${p}-messages`, size: 10 });
    const mine = messages.hits.hits.map((h) => h._source!).filter((m) => m.sender_id === subject);
    expect(mine).toHaveLength(5);
    expect(mine.every((m) => m.sender_name === null && m.sender_email === null && m.body === 'kept')).toBe(true);
    expect(messages.hits.hits.map((h) => h._source!).find((m) => m.sender_id === neighbour)).toMatchObject({ sender_name: 'Bob', sender_email: neighbour });
    await connector.close();
  });

  it('matches a composite key field by field, and fails only the target whose index or field does not exist', async () => {
    const p = uniqueName('lec').replaceAll('_', '-');
    await using fx = await sinkFixture(`  elasticsearch:
    node: ${endpoints().elasticsearchUrl}
    account:
      - { index: "${p}-accounts", match: { tenant: tenant_code, AccountId: account_no }, action: delete }
      - { index: "${p}-missing", match: { tenant: tenant_code, AccountId: account_no }, action: delete }
      - { index: "${p}-accounts", match: { tenant: tenant_code, AccountId: acount_no }, action: delete }
      - { index: "${p}-none-*", match: { tenant: tenant_code, AccountId: account_no }, action: delete }
`);
    await using scratch = indicesOf(p);
    const { es } = scratch;
    await es.indices.create({
      index: `${p}-accounts`,
      settings: { number_of_replicas: 0 },
      mappings: { properties: { tenant_code: { type: 'keyword' }, account_no: { type: 'long' } } },
    });
    // The subject, and neighbours sharing one of its two key values.
    const docs = [
      { tenant_code: 'acme', account_no: 42, n: 1 },
      { tenant_code: 'acme', account_no: 42, n: 2 },
      { tenant_code: 'acme', account_no: 43, n: 3 },
      { tenant_code: 'globex', account_no: 42, n: 4 },
    ];
    const seeded = await es.bulk({ refresh: true, operations: docs.flatMap((doc) => [{ index: { _index: `${p}-accounts` } }, doc]) });
    expect(seeded.errors).toBe(false);

    const connector = new ElasticsearchConnector(fx.catalog.sinks.elasticsearch!);
    const [results, other] = await connector.apply([accountErased('acme', '42'), accountErased('initech', '1')]);
    expect(results![0]).toEqual({ target: `index ${p}-accounts`, affected: 2, residual: 0 });
    expect(results![1]).toMatchObject({ target: `index ${p}-missing`, affected: 0, failed: expect.stringContaining(`index ${p}-missing does not exist`) });
    // The misspelt field comes after the documents are gone: nothing found, so the mapping is checked.
    expect(results![2]).toMatchObject({ affected: 0, failed: expect.stringContaining('maps the match field acount_no') });
    // A pattern that matches no index yet is nothing to do.
    expect(results![3]).toEqual({ target: `index ${p}-none-*`, affected: 0, residual: 0 });
    expect(other![0]).toEqual({ target: `index ${p}-accounts`, affected: 0, residual: 0 });

    const left = await es.search<{ tenant_code: string; account_no: number; n: number }>({ index: `${p}-accounts`, size: 10, sort: [{ n: 'asc' }] });
    expect(left.hits.hits.map((h) => h._source!.n)).toEqual([3, 4]);
    await connector.close();
  });
});
